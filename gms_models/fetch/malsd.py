"""Import MALSD (private) from a folder in its layout; other files in the tree are copied along."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from gms_models.data.malsd import MALSD_CLASSES, MALSD_SPLITS, survey_layout
from gms_models.errors import DataError
from gms_models.files import ensure_replaceable, staged_folder
from gms_models.image_io import IMAGE_SUFFIXES


def check_malsd_layout(root: Path) -> dict[str, dict[str, int]]:
    """Image counts per split and class (any suffix Pillow is asked to read, BMP included);
    :class:`DataError` names every layout problem."""
    paths, problems = survey_layout(root, IMAGE_SUFFIXES)
    if problems:
        raise DataError(
            "not a MALSD folder (expected train|test/Act0|NG/<images>): " + "; ".join(problems)
        )
    counts = Counter(path.relative_to(root).parts[:2] for path in paths)
    return {
        split: {label: counts[split, label] for label in MALSD_CLASSES} for split in MALSD_SPLITS
    }


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
