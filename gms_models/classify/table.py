"""Table 1 as the paper prints it (Encoder | train loss | train acc | val loss | val acc), plus
params and MACs, with the paper's figures beside ours when the data is the real MALSD.

:func:`table_rows` gives the rows as dicts keyed by column header (for MLflow tables, DVC metrics
or any other consumer); :func:`render_markdown` and :func:`render_csv` print them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gms_models.classify.results import FamilyResult

METRICS: tuple[str, ...] = ("train loss", "train acc", "val loss", "val acc")
"""The paper's metric columns, in its order."""
ENCODER_COLUMN = "Encoder"
PARAMS_COLUMN = "params (M)"
MACS_COLUMN = "MACs (M)"
PAPER_PREFIX = "paper "


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 1 (final figures after training on MALSD)."""

    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float

    def values(self) -> tuple[float, float, float, float]:
        return (self.train_loss, self.train_acc, self.val_loss, self.val_acc)


PAPER_TABLE1: dict[str, PaperRow] = {
    "DeepViT": PaperRow(0.3945, 0.8608, 0.4091, 0.8562),
    "NesT": PaperRow(0.4032, 0.8608, 0.4099, 0.8571),
    "RegionViT": PaperRow(0.2121, 0.8956, 0.3001, 0.8801),
    "ViT": PaperRow(0.2082, 0.9098, 0.2934, 0.8819),
    "CCT": PaperRow(0.1381, 0.9446, 0.2248, 0.8909),
    "CrossViT": PaperRow(0.0506, 0.9858, 0.3730, 0.8978),
    "Token-to-Token ViT": PaperRow(0.1284, 0.9562, 0.2305, 0.8988),
    "PiT": PaperRow(0.2220, 0.9098, 0.2661, 0.8988),
    "CaiT": PaperRow(0.1095, 0.9665, 0.285, 0.9127),
    "CvT": PaperRow(0.0057, 0.9920, 0.3573, 0.9266),
    "LeViT": PaperRow(0.0402, 0.9910, 0.1903, 0.9345),
    "GroupMixFormer": PaperRow(0.0388, 0.9927, 0.1542, 0.9673),
}
"""The paper's Table 1, keyed by its row labels (= :attr:`ClassifierFamily.name`)."""


def table_columns(with_paper: bool) -> list[str]:
    """Column headers: each metric followed by the paper's figure when ``with_paper``."""
    metric_columns = [
        column
        for metric in METRICS
        for column in ((metric, PAPER_PREFIX + metric) if with_paper else (metric,))
    ]
    return [ENCODER_COLUMN, *metric_columns, PARAMS_COLUMN, MACS_COLUMN]


def table_rows(results: Sequence[FamilyResult], with_paper: bool) -> list[dict[str, str | float]]:
    """One dict per result, in the given order, keyed by :func:`table_columns`.

    Metrics are the final epoch's; params are thop-convention counts in millions, MACs in
    millions at the run's input size. A family missing from the paper gets NaN paper figures.
    """
    rows = []
    for result in results:
        final = result.final
        ours = (final.train_loss, final.train_acc, final.val_loss, final.val_acc)
        paper = PAPER_TABLE1.get(result.family)
        theirs = paper.values() if paper else (math.nan,) * len(METRICS)
        row: dict[str, str | float] = {ENCODER_COLUMN: result.family}
        for metric, our_value, their_value in zip(METRICS, ours, theirs, strict=True):
            row[metric] = our_value
            if with_paper:
                row[PAPER_PREFIX + metric] = their_value
        row[PARAMS_COLUMN] = result.params / 1e6
        row[MACS_COLUMN] = result.macs / 1e6
        rows.append(row)
    return rows


def _format(column: str, value: str | float) -> str:
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "–"
    if column in (PARAMS_COLUMN, MACS_COLUMN):
        return f"{value:.2f}"
    return f"{value:.4f}"


def render_markdown(rows: Sequence[dict[str, str | float]]) -> str:
    """A GitHub markdown table of ``rows`` (losses and accuracies to 4 decimals)."""
    if not rows:
        raise ValueError("no rows to render")
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(_format(c, row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render_csv(rows: Sequence[dict[str, str | float]]) -> str:
    """``rows`` as CSV with a header line; numbers at full precision, NaN as an empty cell."""
    if not rows:
        raise ValueError("no rows to render")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        )
    return buffer.getvalue()
