"""Files written whole or not at all, stable JSON, sha256, the cache folder. Temporaries are named
``.<dest>.<pid>-<host>.<token>.tmp`` so that only those whose writer is gone are removed."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from gms_models.errors import DataError
from gms_models.owner import OWNER_PATTERN, owner_gone, owner_token

_OUTPUT_SET = "output-set"
_TEMP_NAME = re.compile(rf"^\.(?P<dest>.+)\.(?P<owner>{OWNER_PATTERN})\.[a-z0-9_]+\.tmp$")


def remove_stale_temps(folder: str | Path, dest_name: str | None = None) -> list[Path]:
    """Remove (and return) the temporaries in ``folder`` (of ``dest_name``) whose writer is gone."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if match is None or not owner_gone(match["owner"]):
            continue
        if dest_name is not None and match["dest"] != dest_name:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def default_cache_dir() -> Path:
    """The gms cache: ``$GMS_CACHE``, else ``$XDG_CACHE_HOME/gms``, else ``~/.cache/gms``."""
    if root := os.environ.get("GMS_CACHE"):
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gms"


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """A temporary path beside ``dest`` that replaces it atomically on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Created by the writer, so with umask permissions (mkstemp's would be owner-only).
    tmp = _sibling_temp(dest)
    try:
        with _os_errors_naming(dest):
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


@contextlib.contextmanager
def _os_errors_naming(dest: Path) -> Iterator[None]:
    """A failed write as its OSError naming ``dest`` (torch wraps ENOSPC in a RuntimeError)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        cause = os_error_in(exc)
        if cause is None or cause.errno is None:
            raise
        raise OSError(cause.errno, cause.strerror or os.strerror(cause.errno), str(dest)) from exc


def os_error_in(exc: BaseException) -> OSError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _sibling_temp(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.{owner_token()}.{uuid.uuid4().hex[:12]}.tmp"


def _staging_dir(dest: Path) -> Path:
    """An empty folder beside ``dest`` with umask permissions (mkdtemp's would be owner-only)."""
    folder = _sibling_temp(dest)
    with _os_errors_naming(dest):
        folder.mkdir()
    return folder


def _fsync_dir(folder: Path) -> None:
    """Persist a rename; a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(dest: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    dest = Path(dest)
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
    return dest


def atomic_write_text(dest: str | Path, text: str) -> Path:
    return atomic_write(dest, lambda fh: fh.write(text.encode("utf-8")))


def dumps_stable(obj: Any, *, indent: int | None = 2) -> str:
    """Sorted keys, fixed separators, a trailing newline, no NaN."""
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(obj, indent=indent, sort_keys=True, separators=separators, allow_nan=False)
    return text + "\n"


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    return atomic_write_text(path, dumps_stable(obj, indent=indent))


def read_json(path: str | Path, *, what: str = "JSON file") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} {path} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise DataError(f"{what} {path} must hold a JSON object, not {type(value).__name__}")
    return value


def ensure_replaceable(dest: Path, overwrite: bool) -> None:
    if dest.exists() and not overwrite:
        raise DataError(f"{dest} already exists; pass overwrite=True (--force) to replace it")


@contextlib.contextmanager
def staged_folder(dest: str | Path) -> Iterator[Path]:
    """An empty folder that replaces ``dest`` whole on success, else is removed with new parents."""
    dest = Path(dest).absolute()
    created = list(itertools.takewhile(lambda p: not p.exists(), dest.parents))
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dest.parent, dest.name)
    staging = _staging_dir(dest)
    try:
        yield staging
        if dest.exists():
            old = _staging_dir(dest)
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


@contextlib.contextmanager
def output_set(folder: str | Path, names: Iterable[str]) -> Iterator[Path]:
    """A staging folder whose files replace the whole set ``names`` in ``folder`` on success, so
    that ``folder`` never mixes two attempts' files (members not written again are removed)."""
    folder = Path(folder)
    names = set(names)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder, _OUTPUT_SET)
    staging = _staging_dir(folder / _OUTPUT_SET)
    try:
        yield staging
        if extra := sorted(p.name for p in staging.iterdir() if p.name not in names):
            raise ValueError(f"outputs {extra} are not in the declared set {sorted(names)}")
        for name in names:
            (folder / name).unlink(missing_ok=True)
        for path in staging.iterdir():
            os.replace(path, folder / path.name)
        _fsync_dir(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
