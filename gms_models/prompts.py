"""Validation of SAM prompts given in original-image pixel coordinates.

Torch-free, so that both the PyTorch predictor and the ONNX runtime use these checks and bad
prompts fail the same way everywhere:
with a :class:`~gms_models.errors.PromptError` that names the offending value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gms_models.errors import PromptError

POINT_LABELS = (-1, 0, 1)  # -1: padding ("not a point"), 0: background, 1: foreground


@dataclass(frozen=True)
class PromptBatch:
    """N validated prompts for one image (coordinates in original pixels, (x, y))."""

    boxes: np.ndarray | None  # (N, 4) float32 xyxy
    points: np.ndarray | None  # (N, K, 2) float32
    labels: np.ndarray | None  # (N, K) int32
    mask_input: np.ndarray | None  # (N, 1, m, m) float32 low-res logits

    @property
    def size(self) -> int:
        for arr in (self.boxes, self.points, self.mask_input):
            if arr is not None:
                return arr.shape[0]
        raise AssertionError("a validated PromptBatch is never empty")


def as_finite_array(value: object, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{name} must be numeric, got {value!r}") from exc
    if not np.isfinite(arr).all():
        raise PromptError(f"{name} contains NaN or infinite values: {arr.tolist()}")
    return arr


def check_inside(arr: np.ndarray, what: str, original_size: tuple[int, int]) -> None:
    """Every (x, y) of ``arr`` (..., 2) must lie in [0, W] × [0, H]."""
    h, w = original_size
    xs, ys = arr[..., 0], arr[..., 1]
    if (xs < 0).any() or (xs > w).any() or (ys < 0).any() or (ys > h).any():
        raise PromptError(
            f"{what} {arr.tolist()} lies outside the {w}x{h} image "
            f"(x must be in [0, {w}], y in [0, {h}])"
        )


def _validate_boxes(boxes: object, original_size: tuple[int, int]) -> np.ndarray:
    arr = as_finite_array(boxes, "box")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] == 0:
        raise PromptError(f"boxes must have shape (N, 4) as x0,y0,x1,y1; got {arr.shape}")
    for i, box in enumerate(arr):
        x0, y0, x1, y1 = box
        if x1 < x0 or y1 < y0:
            raise PromptError(
                f"box {i} {box.tolist()} has x1 < x0 or y1 < y0 (expected x0,y0,x1,y1)"
            )
        check_inside(box.reshape(2, 2), f"box {i}", original_size)
    return arr.astype(np.float32)


def _validate_points(
    points: object, labels: object, original_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    if labels is None:
        raise PromptError("point labels are missing: give one label (1 or 0) per point")
    coords = as_finite_array(points, "point coordinates")
    if coords.ndim != 3 or coords.shape[2] != 2 or coords.shape[1] == 0 or coords.shape[0] == 0:
        raise PromptError(f"points must have shape (N, K, 2) with K >= 1; got {coords.shape}")
    labs = as_finite_array(labels, "point labels")
    if labs.shape != coords.shape[:2]:
        raise PromptError(
            f"point labels have shape {labs.shape} but the points need {coords.shape[:2]}"
        )
    if not np.isin(labs, POINT_LABELS).all():
        raise PromptError(
            f"point labels must be 1 (foreground), 0 (background) or -1 (padding); got "
            f"{labs.astype(np.float64).tolist()}"
        )
    for i, (prompt_points, prompt_labels) in enumerate(zip(coords, labs, strict=True)):
        real = prompt_labels != -1
        check_inside(prompt_points[real], f"points of prompt {i}", original_size)
    return coords.astype(np.float32), labs.astype(np.int32)


def _validate_masks(mask_input: object, n: int | None, mask_size: int) -> np.ndarray:
    masks = as_finite_array(mask_input, "mask input")
    if masks.ndim != 4 or masks.shape[1:] != (1, mask_size, mask_size) or not masks.shape[0]:
        raise PromptError(
            f"mask input must have shape (N, 1, {mask_size}, {mask_size}) (low-res logits); "
            f"got {masks.shape}"
        )
    if n is None:
        return masks.astype(np.float32)
    if masks.shape[0] == 1 and n > 1:
        masks = np.repeat(masks, n, axis=0)
    if masks.shape[0] != n:
        raise PromptError(f"mask input holds {masks.shape[0]} masks for {n} prompts")
    return masks.astype(np.float32)


def validate_prompts(
    original_size: tuple[int, int],
    *,
    boxes: object = None,
    points: object = None,
    labels: object = None,
    mask_input: object = None,
    mask_size: int = 256,
) -> PromptBatch:
    """Check and normalise a batch of prompts for an image of ``original_size`` = (H, W).

    boxes (N, 4) xyxy; points (N, K, 2) (x, y) with labels (N, K); mask_input (N or 1, 1, m, m).
    Raises :class:`PromptError` for an empty prompt, a box with x1 < x0 or y1 < y0, a box or
    point outside the image, non-finite values or mismatched shapes.
    """
    box_arr = None if boxes is None else _validate_boxes(boxes, original_size)
    point_arr = label_arr = None
    if points is not None:
        point_arr, label_arr = _validate_points(points, labels, original_size)
    elif labels is not None:
        raise PromptError("point labels were given without point coordinates")
    if box_arr is not None and point_arr is not None and len(box_arr) != len(point_arr):
        raise PromptError(f"{len(box_arr)} boxes but {len(point_arr)} point prompts were given")
    if box_arr is None and point_arr is None and mask_input is None:
        raise PromptError("empty prompt: give at least one box, point or mask input")
    if box_arr is None and label_arr is not None:
        empty = np.flatnonzero((label_arr == -1).all(axis=1))
        if empty.size and mask_input is None:
            raise PromptError(f"prompt {int(empty[0])} has only padding points (label -1)")
    n = len(box_arr) if box_arr is not None else len(point_arr) if point_arr is not None else None
    mask_arr = None if mask_input is None else _validate_masks(mask_input, n, mask_size)
    return PromptBatch(box_arr, point_arr, label_arr, mask_arr)
