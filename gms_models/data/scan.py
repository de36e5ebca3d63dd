"""Finding image files (:func:`list_images`, used by every reader) and checking that they decode."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gms_models.errors import DataError, ImageError
from gms_models.image_io import load_rgb

log = logging.getLogger(__name__)

DATASET_IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")

ProgressFn = Callable[[int, int], None]  # progress(done, total), after each item


@dataclass(frozen=True)
class BadImage:
    path: Path
    reason: str


def list_images(root: str | Path, suffixes: tuple[str, ...] = DATASET_IMAGE_SUFFIXES) -> list[Path]:
    """Image files under ``root`` (hidden ones left out), sorted by relative POSIX path so that the
    order is the same on every machine."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    found = [
        path
        for path in root.rglob("*")
        if path.suffix.lower() in suffixes
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def scan_images(
    paths: Iterable[Path], *, strict: bool = False, progress: ProgressFn | None = None
) -> list[BadImage]:
    paths = list(paths)
    bad: list[BadImage] = []
    for done, path in enumerate(paths, start=1):
        try:
            load_rgb(path, strict=strict)
        except ImageError as exc:
            log.warning("bad image %s: %s", path, exc)
            bad.append(BadImage(Path(path), str(exc)))
        if progress is not None:
            progress(done, len(paths))
    return bad


def describe_paths(paths: Sequence[object]) -> str:
    """``"a, b, c, d, e (and 7 more)"``: the first five paths for an error message."""
    shown = ", ".join(str(p) for p in paths[:5])
    rest = len(paths) - 5
    return f"{shown} (and {rest} more)" if rest > 0 else shown
