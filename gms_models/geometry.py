"""SAM's image and prompt geometry without torch: one copy for predictors and exporters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from gms_models.errors import ConfigError, ImageError, PromptError

PIXEL_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)  # 0-255 RGB
PIXEL_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)
PATCH_STRIDE = 16  # input pixels per cell of the image embedding
EMBED_DIM = 256  # channels of the image embedding
MASK_THRESHOLD = 0.0  # a mask pixel is set where its logit is above this
PADDING_LABEL = -1  # "not a point": pads prompts with fewer points
POINT_LABELS = (PADDING_LABEL, 0, 1)  # padding, background, foreground
BOX_CORNER_LABELS = (2, 3)  # top-left and bottom-right corners of a box, as decoder points


def check_img_size(img_size: int) -> int:
    if not isinstance(img_size, int) or img_size <= 0 or img_size % PATCH_STRIDE:
        raise ConfigError(f"img_size={img_size!r} must be a positive multiple of {PATCH_STRIDE}")
    return img_size


def check_rgb_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ImageError(f"image must be an H×W×3 uint8 RGB array, got {kind}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"image must be an H×W×3 uint8 RGB array, got shape {image.shape}")


def preprocess_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    scale = long_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_longest_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """PIL bilinear on uint8 (antialiased shrinking) as SAM's predictor; F.interpolate differs."""
    new_h, new_w = preprocess_shape(image.shape[0], image.shape[1], long_side)
    return np.array(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))


def encoder_input(
    image: np.ndarray,
    img_size: int,
    pixel_mean: tuple[float, ...] = PIXEL_MEAN,
    pixel_std: tuple[float, ...] = PIXEL_STD,
) -> tuple[np.ndarray, tuple[int, int]]:
    """The (1,3,S,S) float32 input (normalised, zero-padded bottom/right) and the resized size."""
    check_rgb_image(image)
    resized = resize_longest_side(image, img_size)
    h, w = resized.shape[:2]
    mean = np.asarray(pixel_mean, dtype=np.float32)
    std = np.asarray(pixel_std, dtype=np.float32)
    out = np.zeros((1, 3, img_size, img_size), dtype=np.float32)
    out[0, :, :h, :w] = ((resized.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    return out, (h, w)


def scale_coords(coords: np.ndarray, original_size: tuple[int, int], long_side: int) -> np.ndarray:
    """(..., 2) original (x, y) -> resized, float32, scaled in float64 as the official transform."""
    old_h, old_w = original_size
    new_h, new_w = preprocess_shape(old_h, old_w, long_side)
    out = np.array(coords, dtype=np.float64)
    out[..., 0] = out[..., 0] * (new_w / old_w)
    out[..., 1] = out[..., 1] * (new_h / old_h)
    return out.astype(np.float32)


def scale_boxes(boxes: np.ndarray, original_size: tuple[int, int], long_side: int) -> np.ndarray:
    corners = np.asarray(boxes).reshape(-1, 2, 2)
    return scale_coords(corners, original_size, long_side).reshape(-1, 4)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) matrix of 1-D bilinear resampling (``align_corners=False``), positions and weights
    in float32 as PyTorch's CPU kernel computes them."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    left = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    right = np.minimum(left + 1, in_size - 1)
    frac = np.clip(src - left.astype(np.float32), np.float32(0.0), np.float32(1.0))
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, left), (np.float32(1.0) - frac).astype(np.float64))
    np.add.at(matrix, (rows, right), frac.astype(np.float64))
    return matrix


def upscale_matrix(low_res: int, img_size: int, resized: int, original: int) -> np.ndarray:
    """Along one axis: low-res -> S, crop to ``resized``, -> original."""
    to_input = bilinear_matrix(low_res, img_size)[:resized]
    matrix: np.ndarray = bilinear_matrix(resized, original) @ to_input
    return matrix


def postprocess_masks(
    low_res_logits: np.ndarray,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
    img_size: int,
    threshold: float | None = None,
) -> np.ndarray:
    """(N,C,m,m) logits -> (N,C,H,W) logits, or masks ``> threshold``. SAM's two bilinear
    upsamplings are one (H×m) and one (W×m) float64 matrix: PyTorch's result up to rounding."""
    n, c, m = low_res_logits.shape[:3]
    rows = upscale_matrix(m, img_size, input_size[0], original_size[0])
    cols_t = upscale_matrix(m, img_size, input_size[1], original_size[1]).T
    out: np.ndarray = np.empty(
        (n, c, *original_size), dtype=np.float32 if threshold is None else np.bool_
    )
    for i in range(n):
        logits = rows @ low_res_logits[i].astype(np.float64) @ cols_t
        out[i] = logits if threshold is None else logits > threshold
    return out


@dataclass(frozen=True)
class PromptBatch:
    """N validated prompts for one image, (x, y) in original pixels."""

    boxes: np.ndarray | None  # (N, 4) float32 xyxy
    points: np.ndarray | None  # (N, K, 2) float32
    labels: np.ndarray | None  # (N, K) int32
    mask_input: np.ndarray | None  # (N, 1, m, m) float32 low-res logits


def _finite_array(value: object, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{name} must be numeric, got {value!r}") from exc
    if not np.isfinite(arr).all():
        raise PromptError(f"{name} contains NaN or infinite values: {arr.tolist()}")
    return arr


def _check_inside(arr: np.ndarray, what: str, original_size: tuple[int, int]) -> None:
    h, w = original_size
    xs, ys = arr[..., 0], arr[..., 1]
    if (xs < 0).any() or (xs > w).any() or (ys < 0).any() or (ys > h).any():
        raise PromptError(
            f"{what} {arr.tolist()} lies outside the {w}x{h} image "
            f"(x must be in [0, {w}], y in [0, {h}])"
        )


def _validate_boxes(boxes: object, original_size: tuple[int, int]) -> np.ndarray:
    arr = _finite_array(boxes, "box")
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
        _check_inside(box.reshape(2, 2), f"box {i}", original_size)
    return arr.astype(np.float32)


def _validate_points(
    points: object, labels: object, original_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    if labels is None:
        raise PromptError("point labels are missing: give one label (1 or 0) per point")
    coords = _finite_array(points, "point coordinates")
    if coords.ndim != 3 or coords.shape[2] != 2 or coords.shape[1] == 0 or coords.shape[0] == 0:
        raise PromptError(f"points must have shape (N, K, 2) with K >= 1; got {coords.shape}")
    labs = _finite_array(labels, "point labels")
    if labs.shape != coords.shape[:2]:
        raise PromptError(
            f"point labels have shape {labs.shape} but the points need {coords.shape[:2]}"
        )
    if not np.isin(labs, POINT_LABELS).all():
        raise PromptError(
            f"point labels must be 1 (foreground), 0 (background) or -1 (padding); got "
            f"{labs.tolist()}"
        )
    for i, (prompt_points, prompt_labels) in enumerate(zip(coords, labs, strict=True)):
        real = prompt_labels != PADDING_LABEL
        _check_inside(prompt_points[real], f"points of prompt {i}", original_size)
    return coords.astype(np.float32), labs.astype(np.int32)


def _validate_masks(mask_input: object, n: int | None, mask_size: int) -> np.ndarray:
    masks = _finite_array(mask_input, "mask input")
    if masks.ndim != 4 or masks.shape[1:] != (1, mask_size, mask_size) or not masks.shape[0]:
        raise PromptError(
            f"mask input must have shape (N, 1, {mask_size}, {mask_size}) (low-res logits); "
            f"got {masks.shape}"
        )
    if n is not None and masks.shape[0] == 1:
        masks = np.repeat(masks, n, axis=0)
    if n is not None and masks.shape[0] != n:
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
    allow_mask_only: bool = True,
) -> PromptBatch:
    """Checked float32 prompts for an (H, W) image: boxes (N,4) xyxy, points (N,K,2) with labels
    (N,K), mask_input (N or 1,1,m,m); ``allow_mask_only=False`` wants a box or point in each."""
    box_arr = None if boxes is None else _validate_boxes(boxes, original_size)
    point_arr = label_arr = None
    if points is not None:
        point_arr, label_arr = _validate_points(points, labels, original_size)
    elif labels is not None:
        raise PromptError("point labels were given without point coordinates")
    if box_arr is not None and point_arr is not None and len(box_arr) != len(point_arr):
        raise PromptError(f"{len(box_arr)} boxes but {len(point_arr)} point prompts were given")
    mask_alone_ok = allow_mask_only and mask_input is not None
    if box_arr is None and point_arr is None and not mask_alone_ok:
        raise PromptError(
            "empty prompt: give at least one box, point or mask input"
            if allow_mask_only
            else "empty prompt: give at least one box or point (the exported decoder needs one; "
            "a mask input alone is not enough)"
        )
    if box_arr is None and label_arr is not None:
        empty = np.flatnonzero((label_arr == PADDING_LABEL).all(axis=1))
        if empty.size and not mask_alone_ok:
            raise PromptError(f"prompt {int(empty[0])} has only padding points (label -1)")
    n = len(box_arr) if box_arr is not None else len(point_arr) if point_arr is not None else None
    mask_arr = None if mask_input is None else _validate_masks(mask_input, n, mask_size)
    return PromptBatch(box_arr, point_arr, label_arr, mask_arr)


def encode_prompt_points(
    point_coords: np.ndarray | None, point_labels: np.ndarray | None, boxes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Prompts as the decoder's labelled points, as SAM: the points, then the box corners
    (labels 2, 3) or, without a box, a padding point (0, 0) labelled -1."""
    coords: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    if point_coords is not None:
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
    return np.concatenate(coords, axis=1), np.concatenate(labels, axis=1)
