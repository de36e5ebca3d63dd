"""Import MALSD (private) from a folder in its layout; other files in the tree are copied along."""

from __future__ import annotations

import shutil
from pathlib import Path

from gms_models.data.malsd import MALSD_CLASSES, MALSD_SPLITS
from gms_models.errors import DataError
from gms_models.files import ensure_replaceable, staged_folder

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


def check_malsd_layout(root: Path) -> dict[str, dict[str, int]]:
    """Image counts per split and class; :class:`DataError` names any missing or empty folder."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"MALSD folder {root} does not exist")
    counts: dict[str, dict[str, int]] = {}
    problems = []
    for split in MALSD_SPLITS:
        counts[split] = {}
        for label in MALSD_CLASSES:
            folder = root / split / label
            if not folder.is_dir():
                problems.append(f"{folder} is missing")
                continue
            n = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if n == 0:
                problems.append(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            counts[split][label] = n
    if problems:
        raise DataError(
            "not a MALSD folder (expected train|test/Act0|NG/<images>): " + "; ".join(problems)
        )
    return counts


def import_malsd(src: Path, dest: Path, *, overwrite: bool = False) -> dict[str, dict[str, int]]:
    """Copy the MALSD tree at ``src`` to ``dest`` (staged, checked before and after the copy);
    return the counts."""
    src, dest = Path(src), Path(dest)
    counts = check_malsd_layout(src)
    ensure_replaceable(dest, overwrite)
    with staged_folder(dest) as staging:
        shutil.copytree(src, staging, dirs_exist_ok=True)
        if check_malsd_layout(staging) != counts:
            raise DataError(f"copying {src} gave different image counts; is it being modified?")
    return counts
