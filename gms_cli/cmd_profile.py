"""``gms profile``: params, thop MACs and CPU latency of registered encoders (Table 2's columns)."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gms_models.errors import ConfigError


def profile_rows(
    names: list[str], img_size: int, latency_runs: int | None, console: Console
) -> list[dict[str, Any]]:
    """One row per encoder; ``latency_runs=None`` skips the latency measurement."""
    import torch
    from rich.progress import Progress

    from gms_models.profiling import measure_latency, profile_model
    from gms_models.registry import build_encoder

    rows = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("profiling", total=len(names))
        for name in names:
            progress.update(task, description=f"profiling {name}")
            with torch.device("meta"):  # counting needs no data: every encoder runs on meta
                prof = profile_model(build_encoder(name, img_size=img_size), img_size)
            latency = None
            if latency_runs is not None:
                progress.update(task, description=f"timing {name} ({latency_runs} runs)")
                model = build_encoder(name, img_size=img_size)
                latency = 1000 * measure_latency(model, img_size, runs=latency_runs, warmup=1)
            rows.append(
                {
                    "name": name,
                    "img_size": img_size,
                    "params_thop": prof.params_thop,
                    "params_true": prof.params_true,
                    "params_m": round(prof.params_thop / 1e6, 2),
                    "params_true_m": round(prof.params_true / 1e6, 2),
                    "macs": prof.macs,
                    "macs_m": round(prof.macs / 1e6, 2),
                    "latency_ms": latency,
                    "latency_runs": latency_runs,
                }
            )
            progress.advance(task)
    return rows


def _table(rows: list[dict[str, Any]], img_size: int, latency_runs: int | None) -> Table:
    import torch

    caption = "params and MACs counted as thop does (Table 2)"
    if latency_runs is not None:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        caption += (
            f"; CPU latency: batch 1, median of {latency_runs} after 1 warm-up, "
            f"{torch.get_num_threads()} threads, load average {load}"
        )
    table = Table(title=f"Encoders at {img_size}×{img_size}", caption=caption)
    table.add_column("name")
    for column in (
        "params thop (M)",
        "params true (M)",
        f"MACs @{img_size} (M)",
        "CPU latency (ms)",
    ):
        table.add_column(column, justify="right")
    for row in rows:
        latency = "–" if row["latency_ms"] is None else f"{row['latency_ms']:.0f}"
        millions = [f"{row[key] / 1e6:.2f}" for key in ("params_thop", "params_true", "macs")]
        table.add_row(row["name"], *millions, latency)
    return table


def profile(
    arch: Annotated[
        str | None, typer.Option("--arch", help="Registered encoder name, e.g. gmf_2282.")
    ] = None,
    all_encoders: Annotated[
        bool, typer.Option("--all", help="Every registered encoder in one table.")
    ] = False,
    img_size: Annotated[int, typer.Option(help="Square input side (multiple of 16).")] = 1024,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Measure CPU latency (slow).")
    ] = True,
    latency_runs: Annotated[
        int, typer.Option(help="Timed forwards per encoder; the median is reported.")
    ] = 3,
) -> None:
    """Params (thop and true), thop MACs and CPU latency of one encoder or of all of them."""
    from gms_models.registry import list_encoders

    if (arch is None) == (not all_encoders):
        raise ConfigError("give exactly one of --arch NAME or --all")
    if latency_runs < 1:
        raise ConfigError(f"--latency-runs must be >= 1, got {latency_runs}")
    names = list_encoders() if arch is None else [arch]
    runs = latency_runs if latency else None
    rows = profile_rows(names, img_size, runs, Console(stderr=True))
    if as_json:
        typer.echo(json.dumps(rows if all_encoders else rows[0], indent=2))
    else:
        Console().print(_table(rows, img_size, runs))


COMMANDS = {"profile": profile}
