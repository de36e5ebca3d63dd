"""The columns of every gms progress bar (library, CLI and flows alike)."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def bar_columns(*extra: ProgressColumn) -> list[ProgressColumn]:
    """Every gms bar's columns: bold description, bar, M of N, ``extra``, elapsed, time left."""
    return [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
