"""SAM pre- and post-processing, matching the official ``ResizeLongestSide`` and ``Sam`` steps.

* Resize so the longest side is ``long_side`` with ``new = int(old * scale + 0.5)``, using PIL
  bilinear resampling on uint8 (antialiased when shrinking) — as torchvision's ``resize`` on a
  PIL image does in the official predictor. ``F.interpolate`` is *not* equivalent.
* Normalise with the ImageNet mean/std on the 0-255 scale, then zero-pad bottom/right to S×S.
* Prompt coordinates are scaled from the original image to the resized one in float64 by
  ``(new_w / old_w, new_h / old_h)``; (x, y) = (column, row).
* Low-res mask logits are upsampled bilinearly to S×S, cropped to the resized image and
  upsampled to the original size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


def preprocess_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(new_h, new_w) after resizing so that the longer side is ``long_side``."""
    scale = long_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_longest_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resize an H×W×3 uint8 image with PIL bilinear so its longer side is ``long_side``."""
    new_h, new_w = preprocess_shape(image.shape[0], image.shape[1], long_side)
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR)
    return np.array(resized)


def normalize_and_pad(
    images: torch.Tensor,
    size: int,
    pixel_mean: torch.Tensor,
    pixel_std: torch.Tensor,
) -> torch.Tensor:
    """(B,3,h,w) uint8 or float (0-255) -> (B,3,size,size) float32, normalised, zero-padded."""
    x = (images.to(torch.float32) - pixel_mean) / pixel_std
    h, w = x.shape[-2:]
    return F.pad(x, (0, size - w, 0, size - h))


def scale_coords(coords: np.ndarray, original_size: tuple[int, int], long_side: int) -> np.ndarray:
    """Scale (..., 2) (x, y) pixel coordinates from the original image to the resized one."""
    old_h, old_w = original_size
    new_h, new_w = preprocess_shape(old_h, old_w, long_side)
    out = np.array(coords, dtype=np.float64)
    out[..., 0] = out[..., 0] * (new_w / old_w)
    out[..., 1] = out[..., 1] * (new_h / old_h)
    return out


def scale_boxes(boxes: np.ndarray, original_size: tuple[int, int], long_side: int) -> np.ndarray:
    """Scale (N, 4) xyxy boxes from the original image to the resized one; returns (N, 4)."""
    corners = np.asarray(boxes).reshape(-1, 2, 2)
    return scale_coords(corners, original_size, long_side).reshape(-1, 4)


def postprocess_masks(
    low_res_logits: torch.Tensor,
    input_size: tuple[int, int],
    original_size: tuple[int, int],
    size: int,
) -> torch.Tensor:
    """(B,C,h,w) low-res logits -> (B,C,H,W) logits at the original image size."""
    masks = F.interpolate(low_res_logits, (size, size), mode="bilinear", align_corners=False)
    masks = masks[..., : input_size[0], : input_size[1]]
    return F.interpolate(masks, original_size, mode="bilinear", align_corners=False)
