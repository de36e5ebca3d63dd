"""Teacher-vs-student feature pictures, one per epoch (the paper's Figure 2).

A few channels of one fixed probe image's feature maps, teacher on top, student below, each in
the colour range of the teacher's map; the channels shown are those where the teacher varies most
over the image. Rendered on matplotlib's Agg canvas (no pyplot, no display).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from gms_models.files import atomic_path


def pick_channels(teacher_features: torch.Tensor, count: int) -> list[int]:
    """The ``count`` channels of a (C,h,w) map with the largest spatial standard deviation."""
    spread = teacher_features.float().flatten(1).std(dim=1)
    count = min(count, spread.numel())
    return sorted(int(i) for i in torch.topk(spread, count).indices)


def save_feature_picture(
    teacher_features: torch.Tensor,
    student_features: torch.Tensor,
    dest: str | Path,
    *,
    channels: Sequence[int],
    title: str,
) -> Path:
    """Write a PNG of ``channels`` of the two (C,h,w) maps to ``dest`` atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    teacher = teacher_features.detach().float().cpu()
    student = student_features.detach().float().cpu()
    figure = Figure(figsize=(2.0 * len(channels) + 0.6, 4.4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, len(channels), squeeze=False)
    for col, channel in enumerate(channels):
        low, high = float(teacher[channel].min()), float(teacher[channel].max())
        for row, (label, maps) in enumerate((("teacher", teacher), ("student", student))):
            axis = axes[row][col]
            axis.imshow(maps[channel].numpy(), cmap="viridis", vmin=low, vmax=high)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(f"channel {channel}", fontsize=9)
            if col == 0:
                axis.set_ylabel(label, fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png")
    return dest
