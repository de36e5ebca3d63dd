"""``gms data demo`` (generate the built-in dataset) and ``gms data check`` (find bad files)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from gms_models.progress import bar_columns

data_app = typer.Typer(
    help="Datasets: generate the built-in demo data, check a dataset folder.", no_args_is_help=True
)


@contextmanager
def progress_bar(description: str, console: Console) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar driven by ``update(done, total)`` calls (the library's callbacks)."""
    with Progress(*bar_columns(), console=console) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@data_app.command("demo")
def demo(
    out: Path = typer.Option(..., "--out", help="Folder to create (new, empty, or old demo data)."),
    seed: int = typer.Option(0, "--seed", help="Same seed and scale give byte-identical files."),
    scale: str = typer.Option("small", "--scale", help="tiny, small or medium."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace earlier demo data."),
) -> None:
    """Generate the built-in demo dataset (COCO and MALSD layouts, unlabeled images)."""
    from gms_models.data.demo import DEMO_SCALES, generate_demo
    from gms_models.data.manifest import read_manifest

    console = Console(stderr=True)
    if scale not in DEMO_SCALES:
        raise typer.BadParameter(f"choose one of {', '.join(DEMO_SCALES)}", param_hint="--scale")
    with progress_bar(f"demo data (seed {seed}, {scale})", console) as progress:
        manifest_path = generate_demo(
            out, seed=seed, scale=scale, overwrite=overwrite, progress=progress
        )
    files = read_manifest(manifest_path.parent)["files"]
    typer.echo(
        f"wrote {len(files)} data files to {manifest_path.parent}, listed in {manifest_path}"
    )


@data_app.command("check")
def check(
    root: Path = typer.Argument(..., help="Dataset folder."),
    layout: str = typer.Option("auto", "--layout", help="auto, demo, coco, malsd or images."),
    strict: bool | None = typer.Option(
        None, "--strict/--no-strict", help="Refuse non-RGB images (default: only for MALSD)."
    ),
    max_listed: int = typer.Option(20, "--max-listed", help="List at most this many per kind."),
) -> None:
    """Scan a dataset folder; list unreadable images and missing files. Exit status 2 if any."""
    from gms_models.data.check import LAYOUTS, check_dataset
    from gms_models.errors import DataError

    if layout != "auto" and layout not in LAYOUTS:
        choices = ", ".join(LAYOUTS)
        raise typer.BadParameter(f"choose auto or one of {choices}", param_hint="--layout")
    console = Console(stderr=True)
    with progress_bar(f"checking {root}", console) as progress:
        report = check_dataset(root, layout=layout, strict=strict, progress=progress)

    out = Console(soft_wrap=True)
    bad_lines = [
        bad.reason if str(bad.path) in bad.reason else f"{bad.path}: {bad.reason}"
        for bad in report.bad_images
    ]
    sections = (("bad images", bad_lines), ("problems", report.problems), ("notes", report.notes))
    for title, lines in sections:
        if lines:
            out.print(f"[bold]{title}[/] ({len(lines)}):")
            for line in lines[:max_listed]:
                out.print(f"  {escape(line)}", highlight=False)
            if len(lines) > max_listed:
                out.print(f"  ... and {len(lines) - max_listed} more")
    verdict = "OK" if report.ok else "FAILED"
    out.print(
        f"{verdict}: {report.layout} layout at {escape(str(report.root))}: "
        f"{report.images_checked} images checked, {len(report.bad_images)} bad, "
        f"{len(report.problems)} problems",
        highlight=False,
    )
    if not report.ok:
        raise DataError(
            f"{report.root} failed the {report.layout} check: {len(report.bad_images)} bad "
            f"images, {len(report.problems)} problems (listed above)"
        )


COMMANDS = {"data": data_app}
