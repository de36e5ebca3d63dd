"""Atomic file writes: a reader sees either the old file or the complete new one, never a torn one.

Used for every artifact that a crash could otherwise leave half-written: checkpoints, ONNX files,
engines, cached teacher features, tables and metrics. The data goes to a
temporary file in the destination's folder (same filesystem, so the rename is atomic), is flushed
and fsync'ed, and is then moved over the destination with :func:`os.replace`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest`` atomically.

    For writers that want a file name rather than a handle (``torch.onnx.export``, ``np.save``).
    On an exception the temporary file is removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A unique name that the writer creates itself, so the file gets the usual umask
    # permissions (mkstemp would make it private to the owner).
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


def atomic_write(dest: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(handle)`` on a temporary file, then move it over ``dest``; return ``dest``."""
    dest = Path(dest)
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
    return dest


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(dest: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``dest`` atomically (creating its folder); return ``dest``."""
    return atomic_write(dest, lambda fh: fh.write(data))


def atomic_write_text(dest: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``dest`` atomically (creating its folder); return ``dest``."""
    return atomic_write_bytes(dest, text.encode("utf-8"))
