"""Table 1 rendering: the paper's column order, the paper's figures beside ours, markdown, CSV,
the val-accuracy chart and the per-family metrics JSON."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from PIL import Image

from gms_models.classify import (
    EpochMetrics,
    FamilyResult,
    read_family_metrics,
    write_family_metrics,
    write_table_files,
)
from gms_models.tables import (
    PAPER_TABLE1,
    render_table1_csv,
    render_table1_markdown,
    render_val_accuracy_png,
    table1_columns,
    table1_rows,
)


def _result(family: str, slug: str, val_acc: float, epochs: int = 2) -> FamilyResult:
    history = tuple(
        EpochMetrics(
            epoch=e,
            train_loss=1.0 / e,
            train_acc=0.5 + 0.1 * e,
            val_loss=2.0 / e,
            val_acc=val_acc - 0.1 * (epochs - e),
            lr=1e-4 * (epochs - e),
            seconds=1.5,
        )
        for e in range(1, epochs + 1)
    )
    return FamilyResult(family, slug, 112, 5_481_794, 5_491_586, 274_062_888, history, 8, 4, 3.0)


@pytest.fixture
def results() -> list[FamilyResult]:
    return [_result("ViT", "vit", 0.75), _result("GroupMixFormer", "gmf_m", 0.875)]


def test_columns_follow_the_paper_with_its_figures_beside_ours() -> None:
    assert table1_columns(False) == [
        "Encoder", "train loss", "train acc", "val loss", "val acc", "params (M)", "MACs (M)",
    ]  # fmt: skip
    assert table1_columns(True)[1:9] == [
        "train loss", "paper train loss", "train acc", "paper train acc",
        "val loss", "paper val loss", "val acc", "paper val acc",
    ]  # fmt: skip


def test_rows_hold_the_final_epoch_and_the_paper_row(results: list[FamilyResult]) -> None:
    rows = table1_rows(results, with_paper=True)
    assert [list(r) for r in rows] == [table1_columns(True)] * 2
    vit = rows[0]
    assert vit["Encoder"] == "ViT"
    assert vit["val acc"] == results[0].final.val_acc == 0.75
    assert vit["train loss"] == results[0].history[-1].train_loss
    assert vit["paper val acc"] == PAPER_TABLE1["ViT"].val_acc
    assert vit["params (M)"] == pytest.approx(5.481794)
    assert vit["MACs (M)"] == pytest.approx(274.062888)


def test_a_family_outside_the_paper_gets_empty_paper_cells() -> None:
    rows = table1_rows([_result("Swin", "swin", 0.5)], with_paper=True)
    assert math.isnan(rows[0]["paper val acc"])
    assert "| Swin |" in render_table1_markdown(rows) and "| – |" in render_table1_markdown(rows)
    parsed = next(csv.DictReader(io.StringIO(render_table1_csv(rows))))
    assert parsed["paper val acc"] == "" and parsed["val acc"] == "0.5"


def test_markdown_and_csv(results: list[FamilyResult]) -> None:
    rows = table1_rows(results, with_paper=False)
    lines = render_table1_markdown(rows).splitlines()
    assert lines[0] == "| " + " | ".join(table1_columns(False)) + " |"
    assert lines[2].startswith("| ViT | 0.5000 | 0.7000 | 1.0000 | 0.7500 | 5.48 | 274.06 |")
    assert len(lines) == 4
    parsed = list(csv.DictReader(io.StringIO(render_table1_csv(rows))))
    assert [r["Encoder"] for r in parsed] == ["ViT", "GroupMixFormer"]
    assert float(parsed[1]["val acc"]) == 0.875


def test_chart_is_a_png_with_and_without_the_paper(results: list[FamilyResult]) -> None:
    for with_paper in (False, True):
        png = render_val_accuracy_png(results, with_paper=with_paper)
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.width > 600


def test_files_and_metrics_json_round_trip(results: list[FamilyResult], tmp_path: Path) -> None:
    files = write_table_files(results, tmp_path, with_paper=True)
    assert files.markdown.read_text().count("\n") == 4
    assert files.csv.read_text().splitlines()[0].startswith("Encoder,train loss,paper train loss")
    assert files.chart.stat().st_size > 0
    path = write_family_metrics(results[1], tmp_path)
    assert path == tmp_path / "metrics" / "gmf_m.json"
    assert read_family_metrics(path) == results[1]
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "gmf_m.json", "metrics", "table1.csv", "table1.md", "table1_val_acc.png",
    ]  # fmt: skip
