"""The shared store (``GMS_STORE``, README: "Shared store"). ``outputs.json`` records absolute
paths, so a pulled folder has them rewritten from the pusher's ``runs_dir`` (``store.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gms_models.files import atomic_write_text, write_json

STORE_ENV = "GMS_STORE"
ORIGIN_FILE = "store.json"
#: Local record of each file last pushed or pulled: [local size:mtime, remote version]; a file
#: unchanged on both sides is not copied again.
STAMPS_FILE = ".store-stamps.json"
OUTPUTS_FILE = "outputs.json"


def _store_folder(runs_dir: Path, folder: Path) -> tuple[Any, str] | None:
    """The fsspec filesystem of ``GMS_STORE`` and ``folder``'s place in it; None without one."""
    url = os.environ.get(STORE_ENV, "").strip()
    if not url:
        return None
    from fsspec.core import url_to_fs

    options: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    if url.startswith("s3://") and endpoint:
        options["endpoint_url"] = endpoint
    fs, root = url_to_fs(url, **options)
    relative = folder.resolve().relative_to(runs_dir.resolve()).as_posix()
    return fs, f"{root.rstrip('/')}/{relative}"


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _version(info: dict[str, Any]) -> str:
    """A remote file's version: its ETag on S3, its size and mtime on other filesystems."""
    return str(info.get("ETag") or f"{info.get('size')}:{info.get('mtime') or info.get('created')}")


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def _relocate(value: Any, origin: str, here: str) -> Any:
    if isinstance(value, str) and (value == origin or value.startswith(origin + "/")):
        return here + value[len(origin) :]
    if isinstance(value, dict):
        return {k: _relocate(v, origin, here) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocate(v, origin, here) for v in value]
    return value


def pull(runs_dir: Path, folder: Path) -> bool:
    """Bring the store's copy of ``folder`` here (files missing or changed); True if it has one."""
    found = _store_folder(runs_dir, folder)
    if found is None:
        return False
    fs, remote = found
    fs.invalidate_cache(remote)  # another host may have written since the last listing
    if not fs.exists(remote):
        return False
    listed = fs.find(remote, detail=True)
    stamps_path = folder / STAMPS_FILE
    stamps = read_json(stamps_path)
    pulled: list[str] = []
    for path, info in listed.items():
        relative = path[len(remote) + 1 :]
        if not relative or relative == ORIGIN_FILE:
            continue
        local = folder / relative
        synced = stamps.get(relative)
        if local.is_file() and synced == [_stamp(local), _version(info)]:
            continue  # unchanged here and there since the last push or pull
        local.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(path, str(local))
        stamps[relative] = [_stamp(local), _version(info)]
        pulled.append(relative)
    origin_path = f"{remote}/{ORIGIN_FILE}"
    outputs = folder / OUTPUTS_FILE
    if OUTPUTS_FILE in pulled and fs.exists(origin_path):
        origin = json.loads(fs.cat_file(origin_path))["runs_dir"]
        here = str(runs_dir.resolve())
        if origin != here:
            relocated = _relocate(json.loads(outputs.read_text()), origin, here)
            atomic_write_text(outputs, json.dumps(relocated, indent=2))
            stamps[OUTPUTS_FILE] = [_stamp(outputs), stamps[OUTPUTS_FILE][1]]
    if pulled:
        write_json(stamps_path, stamps, indent=None)
    return True


def push(runs_dir: Path, folder: Path) -> None:
    """Upload ``folder``'s files changed since the last push or pull, ``outputs.json`` last (a
    reader never sees a result before its files)."""
    found = _store_folder(runs_dir, folder)
    if found is None or not folder.is_dir():
        return
    fs, remote = found
    stamps_path = folder / STAMPS_FILE
    stamps = read_json(stamps_path)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != STAMPS_FILE)
    files.sort(key=lambda p: p.name == OUTPUTS_FILE)
    for path in files:
        relative = path.relative_to(folder).as_posix()
        stamp = _stamp(path)
        if stamps.get(relative, [None])[0] == stamp:
            continue
        target = f"{remote}/{relative}"
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)  # folder stores need them
        if relative == OUTPUTS_FILE:
            origin = json.dumps({"runs_dir": str(runs_dir.resolve())})
            fs.pipe_file(f"{remote}/{ORIGIN_FILE}", origin.encode())
        fs.put_file(str(path), target)
        stamps[relative] = [stamp, _version(fs.info(target))]
    write_json(stamps_path, stamps, indent=None)
