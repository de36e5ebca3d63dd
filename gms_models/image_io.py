"""Images as SAM expects them, H×W×3 uint8 RGB: other modes converted (alpha dropped) unless
``strict``; more pixels than ``Image.MAX_IMAGE_PIXELS`` refused (Pillow only warns up to 2×)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gms_models.errors import ImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError)


@contextmanager
def open_image(path: str | Path) -> Iterator[Image.Image]:
    """``path`` opened by Pillow (headers only) within the pixel limit."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        img = Image.open(path)  # raises DecompressionBombError above twice the limit
    except Image.DecompressionBombError as exc:
        raise ImageError(_too_large(path, str(exc))) from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"cannot decode image {path}: {exc}") from exc
    with img:
        if Image.MAX_IMAGE_PIXELS is not None and img.width * img.height > Image.MAX_IMAGE_PIXELS:
            raise ImageError(_too_large(path, f"{img.width}×{img.height} pixels"))
        yield img


def _too_large(path: Path, size: str) -> str:
    return (
        f"image {path} is larger than the limit of {Image.MAX_IMAGE_PIXELS} pixels "
        f"(Pillow's Image.MAX_IMAGE_PIXELS), refused as a possible decompression bomb: {size}"
    )


def load_rgb(path: str | Path, *, strict: bool = False) -> np.ndarray:
    """H×W×3 uint8 RGB, decoded by PIL as the reference fixtures were."""
    path = Path(path)
    try:
        with open_image(path) as img:
            img.load()
            mode = img.mode
            if mode != "RGB":
                if strict:
                    raise ImageError(f"image {path} is {mode}, not RGB (strict mode refuses it)")
                log.warning("image %s is %s; converting to RGB", path, mode)
                if mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr16 = np.asarray(img, dtype=np.float64)
                    peak = max(float(arr16.max()), 1.0)
                    img = Image.fromarray((arr16 / peak * 255.0).round().astype(np.uint8))
                img = img.convert("RGB")
            arr = np.array(img)
    except _DECODE_ERRORS as exc:
        raise ImageError(f"cannot decode image {path}: {exc}") from exc
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or arr.size == 0:
        raise ImageError(f"image {path} decoded to an unusable array {arr.shape} {arr.dtype}")
    return arr
