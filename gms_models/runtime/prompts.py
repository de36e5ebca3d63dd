"""Prompts for the exported decoder: checked in original-image pixels, then encoded as the
labelled points that SAM's ONNX decoders take.

The checks give the same :class:`~gms_models.errors.PromptError` cases as the PyTorch predictor
(empty prompt, box with x1 < x0, a point outside the image, NaN, mismatched shapes); they are
written here again because the runtime must not import the torch model package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gms_models.errors import PromptError
from gms_models.prompts import as_finite_array, check_inside

PADDING_LABEL = -1
BOX_CORNER_LABELS = (2, 3)
USER_POINT_LABELS = (-1, 0, 1)


@dataclass(frozen=True)
class Prompts:
    """N checked prompts for one image, in original-image pixels."""

    boxes: np.ndarray | None  # (N, 4) float32 xyxy
    points: np.ndarray | None  # (N, K, 2) float32 (x, y)
    labels: np.ndarray | None  # (N, K) float32 in {-1, 0, 1}
    mask_input: np.ndarray | None  # (N or 1, 1, m, m) float32 low-res logits

    @property
    def size(self) -> int:
        arr = self.boxes if self.boxes is not None else self.points
        assert arr is not None
        return arr.shape[0]


def check_prompts(
    original_size: tuple[int, int],
    *,
    boxes: object = None,
    points: object = None,
    labels: object = None,
    mask_input: object = None,
    mask_size: int = 256,
) -> Prompts:
    """Boxes (N,4) xyxy and/or points (N,K,2) with labels (N,K); mask_input (N or 1,1,m,m).

    Every prompt needs a box or a point: the exported decoder has no mask-only mode.
    """
    box_arr = point_arr = label_arr = mask_arr = None
    if boxes is not None:
        box_arr = as_finite_array(boxes, "box")
        box_arr = box_arr[None] if box_arr.ndim == 1 else box_arr
        if box_arr.ndim != 2 or box_arr.shape[1] != 4 or not len(box_arr):
            raise PromptError(f"boxes must have shape (N, 4) as x0,y0,x1,y1; got {box_arr.shape}")
        for i, (x0, y0, x1, y1) in enumerate(box_arr):
            if x1 < x0 or y1 < y0:
                raise PromptError(f"box {i} {box_arr[i].tolist()} has x1 < x0 or y1 < y0")
            check_inside(box_arr[i].reshape(2, 2), f"box {i}", original_size)
    if points is not None:
        if labels is None:
            raise PromptError("point labels are missing: give one label (1 or 0) per point")
        point_arr = as_finite_array(points, "point coordinates")
        if point_arr.ndim != 3 or point_arr.shape[2] != 2 or 0 in point_arr.shape[:2]:
            raise PromptError(
                f"points must have shape (N, K, 2) with K >= 1; got {point_arr.shape}"
            )
        label_arr = as_finite_array(labels, "point labels")
        if label_arr.shape != point_arr.shape[:2]:
            raise PromptError(
                f"point labels have shape {label_arr.shape} but the points need "
                f"{point_arr.shape[:2]}"
            )
        if not np.isin(label_arr, USER_POINT_LABELS).all():
            raise PromptError(
                "point labels must be 1 (foreground), 0 (background) or -1 (padding); got "
                f"{label_arr.tolist()}"
            )
        for i, (xy, lab) in enumerate(zip(point_arr, label_arr, strict=True)):
            check_inside(xy[lab != PADDING_LABEL], f"points of prompt {i}", original_size)
    elif labels is not None:
        raise PromptError("point labels were given without point coordinates")
    if box_arr is None and point_arr is None:
        raise PromptError(
            "empty prompt: give at least one box or point (the exported decoder needs one; a "
            "mask input alone is not enough)"
        )
    if box_arr is not None and point_arr is not None and len(box_arr) != len(point_arr):
        raise PromptError(f"{len(box_arr)} boxes but {len(point_arr)} point prompts were given")
    if box_arr is None and label_arr is not None:
        empty = np.flatnonzero((label_arr == PADDING_LABEL).all(axis=1))
        if empty.size:
            raise PromptError(f"prompt {int(empty[0])} has only padding points (label -1)")
    n = len(box_arr) if box_arr is not None else len(point_arr)  # type: ignore[arg-type]
    if mask_input is not None:
        mask_arr = as_finite_array(mask_input, "mask input")
        if mask_arr.ndim != 4 or mask_arr.shape[1:] != (1, mask_size, mask_size):
            raise PromptError(
                f"mask input must have shape (N, 1, {mask_size}, {mask_size}) (low-res logits); "
                f"got {mask_arr.shape}"
            )
        if mask_arr.shape[0] not in (1, n):
            raise PromptError(f"mask input holds {mask_arr.shape[0]} masks for {n} prompts")
        mask_arr = mask_arr.astype(np.float32)
    return Prompts(
        None if box_arr is None else box_arr.astype(np.float32),
        None if point_arr is None else point_arr.astype(np.float32),
        None if label_arr is None else label_arr.astype(np.float32),
        mask_arr,
    )


def encode_prompt_points(
    point_coords: np.ndarray | None,
    point_labels: np.ndarray | None,
    boxes: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Prompts in the input frame as the decoder's labelled points, as SAM's prompt encoder does.

    point_coords (B,K,2) with labels (B,K) and/or boxes (B,4) xyxy -> coords (B,N,2) and labels
    (B,N), float32: the points, then the two box corners labelled 2 and 3 or, for a prompt
    without a box, one padding point (0, 0) labelled -1.
    """
    coords: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    if point_coords is not None:
        if point_labels is None:
            raise PromptError("point labels are missing: give one label per point")
        coords.append(np.asarray(point_coords, dtype=np.float32))
        labels.append(np.asarray(point_labels, dtype=np.float32))
    if boxes is not None:
        corners = np.asarray(boxes, dtype=np.float32).reshape(-1, 2, 2)
        coords.append(corners)
        labels.append(np.tile(np.asarray(BOX_CORNER_LABELS, np.float32), (len(corners), 1)))
    elif coords:
        n = coords[0].shape[0]
        coords.append(np.zeros((n, 1, 2), np.float32))
        labels.append(np.full((n, 1), PADDING_LABEL, np.float32))
    if not coords:
        raise PromptError("empty prompt: give at least one box or point")
    return np.concatenate(coords, axis=1), np.concatenate(labels, axis=1)
