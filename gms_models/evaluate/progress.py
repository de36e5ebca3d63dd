"""Progress of an evaluation, one tick per image: a rich bar on stderr and/or a callback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gms_models.data.scan import ProgressFn

Advance = Callable[[float | None], None]
"""Called by the evaluator after each image with the running mIoU (None before any prompt)."""


@contextmanager
def image_progress(
    total: int, description: str, *, show: bool, callback: ProgressFn | None
) -> Iterator[Advance]:
    """Yield ``advance(running_miou)``; shows a bar when ``show``, calls ``callback``."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[miou]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )
    task = bar.add_task(description, total=total, miou="")
    done = 0

    def advance(running_miou: float | None) -> None:
        nonlocal done
        done += 1
        shown = "" if running_miou is None else f"mIoU {running_miou:.4f}"
        bar.update(task, advance=1, miou=shown)
        if callback is not None:
            callback(done, total)

    with bar:
        yield advance
