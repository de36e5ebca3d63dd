"""``gms run FLOW`` (any flow, in this process) and ``gms study`` (the README's main job)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from tasks.specs import TrackingSpec

RANDOM_TEACHER_BANNER = (
    "[bold red]NO TEACHER CHECKPOINT:[/] the teacher has [bold]RANDOM WEIGHTS[/]. Every number "
    "below only shows that the pipeline runs. Pass [bold]--set teacher.checkpoint=PATH_OR_URL[/] "
    "(a mobile_sam.pt) for real results."
)

ParamsOption = Annotated[
    Path | None,
    typer.Option("--params", help="params.yaml: the flow's section plus data/teacher/tracking."),
]
#: The committed params.yaml: the toy study of ``gms study``.
TOY_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override one parameter: dotted KEY=VALUE (YAML), repeatable."),
]
AllowPartialOption = Annotated[
    bool,
    typer.Option(
        "--allow-partial", help="Exit 0 although some arms or families failed (their rows say why)."
    ),
]
#: Exit status of a run that finished with failed arms (bad input is 2).
PARTIAL_EXIT = 1


def _mlflow_ui_hint(uri: str) -> str:
    if uri.startswith("sqlite:"):
        return f"mlflow ui --backend-store-uri {uri}"
    return f"open {uri}" if uri.startswith("http") else f"MLflow store: {uri}"


def _print_where(console: Console, summary: Any, tracking: TrackingSpec) -> None:
    from tasks.tracking import resolve_tracking_uri  # loads Prefect: only once the run is over

    tracking_uri = resolve_tracking_uri(tracking)
    console.print("\n[bold]Where to look[/]")
    for label, name in (("data", "root"), ("teacher", "checkpoint")):
        path = getattr(summary, name, None)
        if path is not None:
            console.print(f"  {label}:{' ' * (9 - len(label))}{escape(str(path))}", highlight=False)
    console.print(f"  MLflow:   {escape(_mlflow_ui_hint(tracking_uri))}")
    for part in ("tables", "ablation", "segment_eval", "encoder_selection"):
        value = getattr(summary, part, None)
        files = getattr(value, "tables", value)
        for name in ("markdown", "csv", "plot"):
            path = getattr(files, name, None)
            if path is not None:
                console.print(f"  table:    {escape(str(path))}", highlight=False)
    champion = getattr(summary, "champion", None)
    if champion is not None:
        console.print(
            f"  champion: {champion.arm} = {champion.model_name}@{champion.alias} "
            f"(version {champion.version}); why: {escape(str(champion.decision_md))}",
            highlight=False,
        )


def _report_failures(console: Console, summary: Any, allow_partial: bool) -> None:
    """List the failed arms (or families); without ``allow_partial`` exit with PARTIAL_EXIT."""
    failures: dict[str, str] = getattr(summary, "failures", {})
    if not failures:
        return
    listed = "".join(f"\n  {escape(name)}: {escape(why)}" for name, why in failures.items())
    head = (
        f"[bold yellow]partial:[/] {len(failures)} failed, accepted (--allow-partial):"
        if allow_partial
        else f"[bold red]error:[/] {len(failures)} failed; the tables keep their rows with the "
        "reason (--allow-partial accepts a partial result):"
    )
    console.print(head + listed, highlight=False, soft_wrap=True)
    if not allow_partial:
        raise typer.Exit(PARTIAL_EXIT)


@contextmanager
def prefect_api(runs_dir: Path) -> Iterator[None]:
    """The user's Prefect server (``PREFECT_API_URL``), else a temporary one that dies with this
    process, its database under ``PREFECT_HOME`` or ``<runs_dir>/prefect`` (not ``~/.prefect``)."""
    if "PREFECT_API_URL" in os.environ:
        yield
        return
    home = Path(os.environ.get("PREFECT_HOME") or runs_dir / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)  # read once, when Prefect is first imported (below)
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from gms_cli.stack.temporary import temporary_prefect_server

    with temporary_prefect_server(home) as url, temporary_settings({PREFECT_API_URL: url}):
        try:
            yield
        finally:  # the run's last logs and events reach the server before it stops
            APILogWorker.drain_all(timeout=5)
            EventsWorker.drain_all(timeout=5)


def _run(
    flow: str, params: Any, console: Console, *, temporary_server: bool = True, **flow_args: Any
) -> Any:
    """Run ``flow`` as a Prefect flow run, or, without ``PREFECT_API_URL`` and
    ``temporary_server``, its function alone."""
    teacher = getattr(params, "teacher", None)
    if getattr(teacher, "checkpoint", "given") is None:
        console.print(RANDOM_TEACHER_BANNER)
    if not temporary_server and "PREFECT_API_URL" not in os.environ:
        from flows.registry import load_flow

        return load_flow(flow).fn(params, **flow_args)
    with prefect_api(Path(params.tracking.runs_dir)):
        from flows.registry import load_flow

        return load_flow(flow)(params, **flow_args)


def run_command(
    flow: Annotated[
        str,
        typer.Argument(
            help="data, teacher, distill, distill-ablation, "
            "segment-eval, encoder-selection, pick or study."
        ),
    ],
    params: ParamsOption = None,
    set_: SetOption = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="distill-ablation only: 'paper' = Table 2's setup under --params/--set; "
            "refuses a run without teacher.checkpoint, teacher.sha256 and real data.",
        ),
    ] = None,
    allow_partial: AllowPartialOption = False,
    temporary_server: Annotated[
        bool,
        typer.Option(
            "--temporary-server/--no-temporary-server",
            help="Without PREFECT_API_URL: start Prefect's temporary server for the flow run, "
            "or run the flow's steps in this process without Prefect (dvc.yaml's stages).",
        ),
    ] = True,
) -> None:
    """Run one flow in this process with its parameters from params.yaml and --set."""
    from flows.params import PRESETS, apply_preset, load_flow_params
    from gms_models.errors import ConfigError

    console = Console(stderr=True)
    flow_params = load_flow_params(flow, params, set_ or ())
    flow_args: dict[str, Any] = {}
    if preset is not None:
        if flow != "distill-ablation" or preset not in PRESETS:
            raise ConfigError(
                f"--preset {preset!r}: presets are {', '.join(PRESETS)}, of distill-ablation only"
            )
        # checked here, before Prefect starts, and again by the flow (as for a deployment)
        flow_params = apply_preset(flow_params, preset)  # type: ignore[arg-type]
        flow_args["preset"] = preset
    started = time.perf_counter()
    summary = _run(flow, flow_params, console, temporary_server=temporary_server, **flow_args)
    console.print(f"\n[bold green]{flow} finished[/] in {time.perf_counter() - started:.0f} s")
    _print_where(console, summary, flow_params.tracking)
    _report_failures(console, summary, allow_partial)


def study_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="Smoke-test size: 1 epoch, 4 images, 1 family.")
    ] = False,
    params: Annotated[
        Path,
        typer.Option(
            "--params", help="params.yaml of the study (default: the repository's, the toy study)."
        ),
    ] = TOY_PARAMS,
    set_: SetOption = None,
    allow_partial: AllowPartialOption = False,
) -> None:
    """The whole study at toy scale on the built-in demo data, on this machine: data → teacher
    → ablation of 3 arms (Table 2) → export → evaluation → Table 3 → Table 1 → pick.

    No server to start: MLflow records go to runs/mlflow.db unless MLFLOW_TRACKING_URI is set.
    """
    from flows.params import QUICK_SETS, load_flow_params

    console = Console(stderr=True)
    sets = [*(QUICK_SETS if quick else ()), *(set_ or ())]
    study = load_flow_params("study", params, sets)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    console.print(
        f"[bold]gms study[/] ({'quick' if quick else 'toy'} scale) on {os.cpu_count()} CPU cores, "
        f"load average {load:.1f}"
    )
    started = time.perf_counter()
    summary = _run("study", study, console)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    console.print(
        f"\n[bold green]study finished[/] in {elapsed / 60:.1f} min "
        f"(load average {load_after:.1f} at the end)"
    )
    if summary.teacher.random:
        console.print(RANDOM_TEACHER_BANNER)
    _print_where(console, summary, study.tracking)
    _report_failures(console, summary, allow_partial)


COMMANDS = {"run": run_command, "study": study_command}
