"""The nanosam training transform, reproducible: torchvision's RandomResizedCrop drawn from
``(seed, epoch, index)`` only, so a resumed run sees an uninterrupted one's crops."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from gms_models.geometry import PIXEL_MEAN, PIXEL_STD

#: torchvision's RandomResizedCrop defaults, which nanosam uses.
DEFAULT_CROP_SCALE: tuple[float, float] = (0.08, 1.0)
DEFAULT_CROP_RATIO: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)


CropBox = tuple[int, int, int, int]  # (left, top, right, bottom) pixels, as PIL takes it


def crop_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    if min(seed, epoch, index) < 0:
        raise ValueError(f"seed, epoch and index must be >= 0, got {(seed, epoch, index)}")
    return np.random.default_rng([seed, epoch, index])


def sample_crop(
    width: int,
    height: int,
    rng: np.random.Generator,
    *,
    scale: tuple[float, float] = DEFAULT_CROP_SCALE,
    ratio: tuple[float, float] = DEFAULT_CROP_RATIO,
) -> CropBox:
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target_area = area * float(rng.uniform(scale[0], scale[1]))
        aspect = math.exp(float(rng.uniform(log_lo, log_hi)))
        crop_w = round(math.sqrt(target_area * aspect))
        crop_h = round(math.sqrt(target_area / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(rng.integers(0, height - crop_h + 1))
            left = int(rng.integers(0, width - crop_w + 1))
            return (left, top, left + crop_w, top + crop_h)
    in_ratio = width / height
    if in_ratio < min(ratio):
        crop_w, crop_h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        crop_w, crop_h = round(height * max(ratio)), height
    else:
        crop_w, crop_h = width, height
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return (left, top, left + crop_w, top + crop_h)


def resized_crop(image: Image.Image, box: CropBox, size: int) -> np.ndarray:
    return np.array(image.resize((size, size), resample=Image.Resampling.BILINEAR, box=box))


def sam_normalize(rgb: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 RGB → (3, H, W) float32, ``(pixel - PIXEL_MEAN) / PIXEL_STD``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    writable = np.require(rgb, requirements=["C", "W"])  # torch refuses read-only arrays
    # uint8 shuffle first, then one float pass in place: ~10x faster than per-op allocations
    chw = torch.from_numpy(writable).permute(2, 0, 1).contiguous().to(torch.float32)
    chw.sub_(torch.tensor(PIXEL_MEAN, dtype=torch.float32).view(3, 1, 1))
    chw.div_(torch.tensor(PIXEL_STD, dtype=torch.float32).view(3, 1, 1))
    return chw


def sam_denormalize(chw: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`sam_normalize` on (..., 3, H, W); returns float 0-255 values."""
    mean = torch.tensor(PIXEL_MEAN, dtype=chw.dtype, device=chw.device).view(3, 1, 1)
    std = torch.tensor(PIXEL_STD, dtype=chw.dtype, device=chw.device).view(3, 1, 1)
    return chw * std + mean
