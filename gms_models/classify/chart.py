"""Bar chart of each family's final val accuracy (ours, and the paper's beside it), as a PNG.

Drawn on a standalone Agg canvas (no pyplot state), so it works headless and in threads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gms_models.classify.results import FamilyResult
from gms_models.classify.table import PAPER_TABLE1
from gms_models.files import atomic_write_bytes


def render_val_accuracy_png(
    results: Sequence[FamilyResult], *, with_paper: bool, dpi: int = 120
) -> bytes:
    """The chart as PNG bytes: one bar per family (Table 1 order as given), the paper's bar
    beside ours when ``with_paper``."""
    if not results:
        raise ValueError("no results to plot")
    names = [r.family for r in results]
    ours = np.array([r.final.val_acc for r in results])
    x = np.arange(len(results))
    width = 0.4 if with_paper else 0.7
    offset = width / 2 if with_paper else 0.0
    fig = Figure(figsize=(max(6.0, 0.8 * len(results) + 2.0), 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    bars = ax.bar(x - offset, ours, width, label=f"ours ({results[0].img_size} px)")
    ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    if with_paper:
        paper = [PAPER_TABLE1[n].val_acc if n in PAPER_TABLE1 else np.nan for n in names]
        ax.bar(x + offset, paper, width, label="paper", color="0.7")
    ax.set_xticks(x, names, rotation=35, ha="right")
    ax.set_ylim(0.0, 1.3)  # room above the bars and their labels for the legend
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_ylabel("val accuracy (MALSD test split)")
    ax.set_title("Table 1: encoder families as Act0/NG classifiers")
    ax.legend(loc="upper left", ncols=2)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_val_accuracy(
    results: Sequence[FamilyResult], path: str | Path, *, with_paper: bool
) -> Path:
    """Write :func:`render_val_accuracy_png` to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, render_val_accuracy_png(results, with_paper=with_paper))
