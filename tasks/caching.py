"""Work folders keyed by code version, data and parameters (README: "What is cached, and on which
key"); Prefect's result cache is not used."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from pydantic import BaseModel

from gms_models.errors import DataError
from gms_models.files import atomic_write_text, sha256_file, write_json
from tasks.devices import device_slot
from tasks.execution import run_logger
from tasks.store import OUTPUTS_FILE, pull, push, read_json

CODE_PACKAGES: tuple[str, ...] = ("gms_models", "tasks")

Outputs = TypeVar("Outputs", bound="StepOutputs")


@dataclass(frozen=True)
class CodeVersion:
    """The code part of every key: the commit and a hash of the changed files of
    :data:`CODE_PACKAGES`, or without git a hash of all of them."""

    commit: str | None
    dirty_hash: str | None
    source_hash: str | None = None

    @property
    def dirty(self) -> bool:
        return self.dirty_hash is not None

    @property
    def key(self) -> str:
        if self.commit is None:
            return f"source-{self.source_hash}"
        return self.commit + (f"+dirty-{self.dirty_hash}" if self.dirty_hash else "")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "surrogateescape") if done.returncode == 0 else None


def _hash_files(root: Path, relpaths: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(set(relpaths)):
        path = root / rel
        digest.update(rel.encode() + b"\0")
        digest.update(sha256_file(path).encode() if path.is_file() else b"<deleted>")
    return digest.hexdigest()[:16]


def code_version(root: Path | None = None) -> CodeVersion:
    root = root or repo_root()
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        files = [
            path.relative_to(root).as_posix()
            for package in CODE_PACKAGES
            for path in (root / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ]
        return CodeVersion(commit=None, dirty_hash=None, source_hash=_hash_files(root, files))
    status = _git(
        root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *CODE_PACKAGES
    )
    changed: list[str] = []
    entries = iter((status or "").split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        changed.append(path)
        if "R" in code or "C" in code:
            changed.append(next(entries, ""))  # the rename's source path follows
    changed = [p for p in changed if p and "__pycache__" not in p]
    return CodeVersion(
        commit=commit.strip(), dirty_hash=_hash_files(root, changed) if changed else None
    )


def fingerprint_folder(folder: str | Path, memo_dir: Path) -> str:
    """Content hash of every file under ``folder``; file hashes are remembered in ``memo_dir``
    by (path, size, mtime, inode), as DVC does, so an unchanged dataset is read once."""
    folder = Path(folder).resolve()
    if folder.is_file():
        files, base = [folder], folder.parent
    elif folder.is_dir():
        files, base = sorted(p for p in folder.rglob("*") if p.is_file()), folder
    else:
        raise DataError(f"data folder not found: {folder}")
    memo_path = memo_dir / "file-hashes.json"
    memo: dict[str, str] = read_json(memo_path)
    digest = hashlib.sha256()
    changed = False
    for path in files:
        stat = path.stat()
        stamp = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
        file_hash = memo.get(stamp)
        if file_hash is None:
            file_hash = memo[stamp] = sha256_file(path)
            changed = True
        digest.update(path.relative_to(base).as_posix().encode() + b"\0" + file_hash.encode())
    if changed:
        write_json(memo_path, memo, indent=None)
    return digest.hexdigest()[:16]


def step_key(step: str, payload: Mapping[str, Any], code: CodeVersion) -> str:
    blob = json.dumps(
        {"step": step, "code": code.key, "payload": payload}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def step_dir(runs_dir: str | Path, step: str, name: str, key: str) -> Path:
    return (Path(runs_dir) / "work" / step / f"{name}-{key[:16]}").resolve()


class StepOutputs(BaseModel):
    """Base of every step's result; its files are checked before a cached result is reused."""

    def files(self) -> list[Path]:
        return list(_paths(self.model_dump()))


def _paths(value: Any) -> Iterator[Path]:
    if isinstance(value, Path):
        yield value
    elif isinstance(value, Mapping | list | tuple):
        for item in value.values() if isinstance(value, Mapping) else value:
            yield from _paths(item)


def write_outputs(work_dir: Path, outputs: StepOutputs) -> Path:
    return atomic_write_text(work_dir / OUTPUTS_FILE, outputs.model_dump_json(indent=2))


def read_outputs(work_dir: Path, model: type[Outputs]) -> Outputs | None:
    """The recorded result of ``work_dir`` when it is complete, else None."""
    path = work_dir / OUTPUTS_FILE
    try:
        outputs = model.model_validate_json(path.read_text()) if path.is_file() else None
    except ValueError:
        return None
    return outputs if outputs is not None and all(p.exists() for p in outputs.files()) else None


@contextmanager
def work_lock(work_dir: Path) -> Iterator[None]:
    """``.<folder>.lock`` (``flock``: a killed holder releases it): a second run waits, then finds
    the first one's outputs."""
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(work_dir.parent / f".{work_dir.name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        run_logger().info("%s: another run is computing it, waiting", work_dir)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def cached_step(
    runs_dir: Path,
    step: str,
    name: str,
    payload: Mapping[str, Any],
    code: CodeVersion,
    model: type[Outputs],
    compute: Callable[[Path, str], Outputs],
    *,
    device: str = "auto",
    key_step: str | None = None,
) -> Outputs:
    """The work folder's recorded outputs, else ``compute(work_dir, slot)`` on a slot of ``device``,
    recorded. ``key_step`` (default ``step``) names the step in the key."""
    work_dir = step_dir(runs_dir, step, name, step_key(key_step or step, payload, code))
    with work_lock(work_dir):
        pull(runs_dir, work_dir)
        outputs = read_outputs(work_dir, model)
        if outputs is not None:
            run_logger().info("%s: reusing the %s outputs in %s", name, step, work_dir)
            return outputs
        with device_slot(device) as slot:
            outputs = compute(work_dir, slot)
        write_outputs(work_dir, outputs)
        push(runs_dir, work_dir)
        return outputs
