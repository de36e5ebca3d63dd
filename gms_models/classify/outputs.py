"""The files of an encoder-selection run under one folder: ``table1.md``, ``table1.csv``,
``table1_val_acc.png`` and ``metrics/<slug>.json`` per family."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gms_models.classify.results import FamilyResult
from gms_models.files import atomic_write_text, read_json, write_json
from gms_models.tables import (
    plot_val_accuracy,
    render_table1_csv,
    render_table1_markdown,
    table1_rows,
)


@dataclass(frozen=True)
class TableFiles:
    markdown: Path
    csv: Path
    chart: Path


def write_family_metrics(result: FamilyResult, out_dir: str | Path) -> Path:
    return write_json(Path(out_dir) / "metrics" / f"{result.slug}.json", result.as_dict())


def read_family_metrics(path: str | Path) -> FamilyResult:
    return FamilyResult.from_dict(read_json(path, what="family metrics file"))


def write_table_files(
    results: Sequence[FamilyResult], out_dir: str | Path, *, with_paper: bool
) -> TableFiles:
    out_dir = Path(out_dir)
    rows = table1_rows(results, with_paper)
    return TableFiles(
        markdown=atomic_write_text(out_dir / "table1.md", render_table1_markdown(rows)),
        csv=atomic_write_text(out_dir / "table1.csv", render_table1_csv(rows)),
        chart=plot_val_accuracy(results, out_dir / "table1_val_acc.png", with_paper=with_paper),
    )
