"""``gms stack up|down|status|env``: the local Prefect + MLflow + S3 stack, without Docker."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gms_cli.stack.launcher import RunningService, StackError, read_state, stop_recorded
from gms_cli.stack.local import DEFAULT_STACK_DIR, StackPorts, client_env, start_local_stack

stack_app = typer.Typer(
    help="Local stack on 127.0.0.1: Prefect server + workers (queues default and control), "
    "MLflow server, S3 server (moto).",
    no_args_is_help=True,
)
console = Console()

DirOption = Annotated[
    Path, typer.Option("--dir", help="Stack folder: state file, logs, databases.")
]


def _status_table(services: list[RunningService]) -> Table:
    table = Table(title="gms stack")
    for column in ("service", "pid", "alive", "port", "url", "RSS MiB", "ready after", "log"):
        table.add_column(column, overflow="fold")
    for service in services:
        alive = service.is_alive()
        rss = service.rss_bytes() if alive else None
        table.add_row(
            service.name,
            str(service.pid),
            "[green]yes[/]" if alive else "[red]no[/]",
            str(service.port or "-"),
            service.url or "-",
            f"{rss / 2**20:.0f}" if rss is not None else "-",
            f"{service.ready_after_s:.1f} s" if service.ready_after_s is not None else "-",
            str(service.log),
        )
    return table


def _exports(ports: StackPorts) -> str:
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in client_env(ports).items())


@stack_app.command("up")
def up(
    stack_dir: DirOption = DEFAULT_STACK_DIR,
    prefect_port: Annotated[int, typer.Option(help="Prefect server port.")] = 4200,
    mlflow_port: Annotated[int, typer.Option(help="MLflow server port.")] = 5000,
    s3_port: Annotated[int, typer.Option(help="S3 server port.")] = 9000,
    pool: Annotated[str, typer.Option(help="Work pool of the process workers.")] = "gpu",
) -> None:
    """Start the stack, wait until every service is healthy, print the variables to export."""
    ports = StackPorts(prefect=prefect_port, mlflow=mlflow_port, s3=s3_port)
    began = time.monotonic()
    with console.status("starting the stack...") as spinner:

        def report(message: str) -> None:
            console.print(f"[dim]{time.monotonic() - began:6.1f} s[/]  {escape(message)}")
            spinner.update(f"starting the stack... ({message})")

        services = start_local_stack(stack_dir, ports, pool=pool, report=report)
    console.print(_status_table(services))
    console.print(f"Stack up in {time.monotonic() - began:.1f} s. To use it from a shell:")
    console.print(_exports(ports), highlight=False, soft_wrap=True)
    console.print(
        "[yellow]The S3 server (moto) keeps objects in memory: `gms stack down` discards them.[/]"
    )
    _warn_lost_models(client_env(ports)["MLFLOW_TRACKING_URI"])


def _warn_lost_models(tracking_uri: str) -> None:
    """The registry outlives the in-memory object store: name the versions whose files are gone."""
    from tasks.registry import lost_versions

    for line in lost_versions(tracking_uri):
        console.print(
            f"[yellow]warning:[/] registered model version {line} has no files in the artifact "
            "store any more (lost with the S3 server's memory); re-run the flow that registered it"
        )


@stack_app.command("down")
def down(
    stack_dir: DirOption = DEFAULT_STACK_DIR,
    grace: Annotated[float, typer.Option(help="Seconds between SIGTERM and SIGKILL.")] = 10.0,
) -> None:
    """Stop the services recorded in the stack folder (SIGTERM, then SIGKILL), nothing else."""
    recorded = read_state(stack_dir)
    if not recorded:
        console.print(f"no stack recorded in {escape(str(stack_dir.resolve()))}")
        return
    stopped = {s.name for s in stop_recorded(stack_dir.resolve(), grace)}
    for service in recorded:
        verb = "stopped" if service.name in stopped else "was not running:"
        console.print(f"{verb} {service.name} (pid {service.pid})")
    console.print("[yellow]The S3 server's objects (MLflow artifacts, DVC remote) are gone.[/]")


@stack_app.command("status")
def status(stack_dir: DirOption = DEFAULT_STACK_DIR) -> None:
    """Show each recorded service: pid, alive, port, url, memory, log."""
    services = read_state(stack_dir)
    if not services:
        console.print(f"no stack recorded in {escape(str(stack_dir.resolve()))}")
        raise typer.Exit(1)
    console.print(_status_table(services))
    if not all(s.is_alive() for s in services):
        raise typer.Exit(1)


@stack_app.command("env")
def env(stack_dir: DirOption = DEFAULT_STACK_DIR) -> None:
    """Print `export` lines for the running stack (use: eval "$(gms stack env)")."""
    services = read_state(stack_dir)
    if not services:
        raise StackError(f"no stack recorded in {stack_dir.resolve()}; run `gms stack up` first")
    typer.echo(_exports(StackPorts.from_services(services)))


COMMANDS = {"stack": stack_app}
