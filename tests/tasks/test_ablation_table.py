"""Table 2 rendering (markdown, CSV), arm failures in the table, the Pareto front and plot."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from gms_models.train.config import format_lr
from tasks.tables import (
    AblationRow,
    failure_status,
    pareto_front,
    plot_pareto,
    render_ablation_csv,
    render_ablation_markdown,
)

RUNTIMES = ["torch", "onnxruntime"]


def rows() -> list[AblationRow]:
    return [
        AblationRow(model="ViT-T (teacher)", arch="vit_t", role="T", miou=0.716),
        AblationRow(
            model="gmf_2282",
            arch="gmf_2282",
            depths=[2, 2, 8, 2],
            lr=3e-4,
            epochs=13,
            last_loss=0.00034,
            miou=0.703,
            miou_small=0.6,
            miou_medium=0.71,
            miou_large=0.8,
            params_m=3.577968,
            macs_g=21.12809,
            latency_ms={"torch": 12.25, "onnxruntime": 8.5},
            group="g1: gmf_2282, resnet18",
        ),
        AblationRow(
            model="nope",
            arch="nope",
            lr=1e-3,
            epochs=13,
            status=failure_status("distill", "unknown encoder 'nope'\nTraceback ..."),
        ),
    ]


def test_markdown_has_the_paper_columns_and_marks_the_failure() -> None:
    text = render_ablation_markdown(rows(), RUNTIMES, ["Setup: toy."])
    lines = text.splitlines()
    assert lines[0].startswith("| Model | T/S | Depths | Lr | Epoch | Last loss | mIoU |")
    assert "Latency torch (ms) | Latency onnxruntime (ms) | Group | Status |" in lines[0]
    assert lines[3] == (
        "| gmf_2282 | S | [2,2,8,2] | 3e-4 | 13 | 0.00034 | 0.703 | 0.600 | 0.710 | 0.800 "
        "| 3.58M | 21128.09M | 12.2 | 8.5 | g1: gmf_2282, resnet18 | ok |"
    )
    assert lines[4].endswith("| – | failed at distill: unknown encoder 'nope' |")
    assert lines[2].startswith("| ViT-T (teacher) | T | – |")
    assert "Setup: toy." in text


def test_csv_keeps_full_precision_and_empty_cells() -> None:
    table = list(csv.DictReader(io.StringIO(render_ablation_csv(rows(), RUNTIMES))))
    assert [r["model"] for r in table] == ["ViT-T (teacher)", "gmf_2282", "nope"]
    arm = table[1]
    assert float(arm["params_m"]) == 3.577968 and float(arm["latency_ms_onnxruntime"]) == 8.5
    assert arm["depths"] == "2-2-8-2" and arm["group"] == "g1: gmf_2282, resnet18"
    assert table[2]["miou"] == "" and table[2]["status"].startswith("failed at distill")


def test_lr_spelling() -> None:
    assert [format_lr(v) for v in (3e-4, 1e-3, 3e-3, 0.0015, 0.1)] == [
        "3e-4", "1e-3", "3e-3", "1.5e-3", "1e-1",
    ]  # fmt: skip


def test_failure_status_keeps_the_first_line_short() -> None:
    status = failure_status("export", "x" * 500 + "\nsecond line")
    assert status.startswith("failed at export: xxx") and len(status) < 200
    assert "second" not in status


def test_pareto_front() -> None:
    points = [(10.0, 0.69), (18.0, 0.70), (18.0, 0.705), (25.0, 0.708), (30.0, 0.708), (5.0, 0.5)]
    assert pareto_front(points) == [5, 0, 2, 3]


def test_pareto_plot_is_written_and_skipped_without_points(tmp_path: Path) -> None:
    out = plot_pareto(rows(), "onnxruntime", tmp_path / "pareto.png", teacher_miou=0.716)
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_pareto(rows(), "tensorrt", tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
