"""Pictures of predicted masks: each tinted and outlined in its own colour, prompts on top."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

# Colour-blind-friendly palette (Okabe-Ito), cycled when there are more masks.
PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
)
POSITIVE_POINT = (0, 200, 0)
NEGATIVE_POINT = (220, 0, 0)
BOX_COLOUR = (255, 255, 255)


def mask_outline(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pixels of ``mask`` with at least one 4-neighbour outside it (or on the image border)."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    return mask & ~interior


def draw_overlay(
    image: np.ndarray,
    masks: np.ndarray,
    *,
    boxes: np.ndarray | None = None,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    alpha: float = 0.45,
) -> Image.Image:
    """``image`` with ``masks`` (N×H×W bool), larger first so smaller ones stay visible."""
    canvas = image.astype(np.float32)
    order = np.argsort([-int(m.sum()) for m in masks], kind="stable")
    for i in order:
        colour = np.asarray(PALETTE[int(i) % len(PALETTE)], dtype=np.float32)
        mask = masks[i].astype(bool)
        canvas[mask] = (1 - alpha) * canvas[mask] + alpha * colour
        canvas[mask_outline(mask)] = colour
    picture = Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    width = max(1, round(max(image.shape[:2]) / 300))
    for box in [] if boxes is None else np.asarray(boxes).reshape(-1, 4):
        draw.rectangle([float(v) for v in box], outline=BOX_COLOUR, width=width)
    if points is not None and labels is not None:
        radius = 3 * width
        xy, labs = np.asarray(points).reshape(-1, 2), np.asarray(labels).reshape(-1)
        for (x, y), label in zip(xy, labs, strict=True):
            if label != -1:
                fill = POSITIVE_POINT if label == 1 else NEGATIVE_POINT
                dot = [x - radius, y - radius, x + radius, y + radius]
                draw.ellipse(dot, fill=fill, outline=BOX_COLOUR)
    return picture
