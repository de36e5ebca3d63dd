"""Build a data folder beside its final place and swap it in whole, or leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gms_models.errors import DataError


def _missing_parents(path: Path) -> list[Path]:
    """The ancestors of ``path`` that do not exist yet, nearest first."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


def ensure_replaceable(dest: Path, overwrite: bool) -> None:
    """Refuse early (before any download) when ``dest`` exists and may not be replaced."""
    if dest.exists() and not overwrite:
        raise DataError(f"{dest} already exists; pass overwrite=True (--force) to replace it")


@contextlib.contextmanager
def staged_directory(dest: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty folder next to ``dest``; on success it becomes ``dest``.

    On an exception the staging folder is deleted, together with any parent folders created for
    it, so a failed import leaves the file system as it found it. An existing ``dest`` is only
    replaced (``overwrite=True``) once the new folder is complete.
    """
    dest = Path(dest).absolute()
    ensure_replaceable(dest, overwrite)
    created = _missing_parents(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        yield staging
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(staging, dest)
            shutil.rmtree(old)
        else:
            os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
