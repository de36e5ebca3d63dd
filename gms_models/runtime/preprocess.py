"""SAM's image pre-processing and mask post-processing in numpy (and PIL for the resize).

The same steps and float32 arithmetic as :mod:`gms_models.sam.transforms`, without torch:

* resize so the longer side is S with ``new = int(old * scale + 0.5)``, PIL bilinear on uint8;
* ``(x - mean) / std`` in float32 on the 0-255 scale, zero padding bottom/right to S×S;
* prompt coordinates scaled by ``(new_w / old_w, new_h / old_h)`` in float64;
* low-res logits upsampled bilinearly (``align_corners=False``, no antialias) to S×S, cropped to
  the resized image and upsampled to the original size. Both bilinear steps are linear maps along
  each axis, so they are applied as an (H×m) and a (W×m) matrix (weights computed in float32
  as PyTorch does, composed in float64); the result differs from PyTorch's two float32 passes by
  float32 rounding only.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gms_models.errors import ImageError

PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def check_rgb_image(image: np.ndarray) -> None:
    """Raise :class:`ImageError` unless ``image`` is a non-empty H×W×3 uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ImageError(f"image must be an H×W×3 uint8 RGB array, got {kind}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"image must be an H×W×3 uint8 RGB array, got shape {image.shape}")


def preprocess_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(new_h, new_w) after resizing so that the longer side is ``long_side``."""
    scale = long_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_longest_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """H×W×3 uint8 resized with PIL bilinear so that its longer side is ``long_side``."""
    new_h, new_w = preprocess_shape(image.shape[0], image.shape[1], long_side)
    return np.array(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))


def encoder_input(
    image: np.ndarray,
    img_size: int,
    pixel_mean: np.ndarray = PIXEL_MEAN,
    pixel_std: np.ndarray = PIXEL_STD,
) -> tuple[np.ndarray, tuple[int, int]]:
    """The encoder input (1,3,S,S) float32 of an H×W×3 uint8 RGB image, and its resized size."""
    check_rgb_image(image)
    resized = resize_longest_side(image, img_size)
    h, w = resized.shape[:2]
    mean = np.asarray(pixel_mean, dtype=np.float32)
    std = np.asarray(pixel_std, dtype=np.float32)
    x = (resized.astype(np.float32) - mean) / std
    out = np.zeros((1, 3, img_size, img_size), dtype=np.float32)
    out[0, :, :h, :w] = x.transpose(2, 0, 1)
    return out, (h, w)


def scale_coords(coords: np.ndarray, original_size: tuple[int, int], long_side: int) -> np.ndarray:
    """(..., 2) (x, y) pixels of the original image -> the resized image, float32."""
    old_h, old_w = original_size
    new_h, new_w = preprocess_shape(old_h, old_w, long_side)
    out = np.array(coords, dtype=np.float64)
    out[..., 0] = out[..., 0] * (new_w / old_w)
    out[..., 1] = out[..., 1] * (new_h / old_h)
    return out.astype(np.float32)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) matrix of 1-D bilinear resampling with ``align_corners=False``.

    Source positions and weights are computed in float32 as PyTorch's CPU kernel does:
    ``(i + 0.5) * (in / out) - 0.5``, clamped at 0, the right neighbour clamped to the last sample.
    """
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
    """(original, low_res) map along one axis: low-res -> S, crop to ``resized``, -> original."""
    to_input = bilinear_matrix(low_res, img_size)[:resized]
    return bilinear_matrix(resized, original) @ to_input


def postprocess_masks(
    low_res_logits: np.ndarray,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
    img_size: int,
) -> np.ndarray:
    """(N,C,m,m) low-res logits -> (N,C,H,W) float32 logits at the original image size."""
    m = low_res_logits.shape[-1]
    rows = upscale_matrix(m, img_size, input_size[0], original_size[0])
    cols = upscale_matrix(m, img_size, input_size[1], original_size[1])
    logits = low_res_logits.astype(np.float64)
    return (rows @ logits @ cols.T).astype(np.float32)
