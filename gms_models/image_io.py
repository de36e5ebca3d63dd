"""Reading images as SAM expects them: H×W×3 uint8 RGB.

Grayscale, palette, CMYK and 16-bit images are converted to RGB; RGBA/LA images have their alpha
channel dropped (the colour channels are kept as they are, not composited). Pass ``strict=True``
to refuse anything that is not already RGB. A missing or undecodable file raises
:class:`~gms_models.errors.ImageError` naming the path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gms_models.errors import ImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def load_rgb(path: str | Path, *, strict: bool = False) -> np.ndarray:
    """Decode ``path`` to an H×W×3 uint8 RGB array (PIL decoder, as the reference fixtures)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image not found: {path}")
    try:
        with Image.open(path) as img:
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
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot decode image {path}: {exc}") from exc
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or arr.size == 0:
        raise ImageError(f"image {path} decoded to an unusable array {arr.shape} {arr.dtype}")
    return arr
