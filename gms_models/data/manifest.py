"""A folder's ``manifest.json`` (each file's sha256 and size, byte-stable) and checks against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gms_models.errors import DataError
from gms_models.files import read_json, sha256_file, write_json

MANIFEST_NAME = "manifest.json"


def _tree_files(root: Path) -> list[str]:
    files = (p for p in root.rglob("*") if p.is_file())
    return sorted(rel for p in files if (rel := p.relative_to(root).as_posix()) != MANIFEST_NAME)


def write_manifest(root: str | Path, meta: dict[str, Any]) -> Path:
    root = Path(root)
    files = {
        rel: {"bytes": (root / rel).stat().st_size, "sha256": sha256_file(root / rel)}
        for rel in _tree_files(root)
    }
    path = root / MANIFEST_NAME
    write_json(path, {**meta, "files": files})
    return path


def read_manifest(root: str | Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST_NAME
    manifest = read_json(path, what="dataset manifest")
    if not isinstance(manifest.get("files"), dict):
        raise DataError(f"{path} has no 'files' table")
    return manifest


def verify_manifest(root: str | Path) -> list[str]:
    """Differences between ``root`` and its manifest: missing, changed and unlisted files."""
    root = Path(root)
    listed: dict[str, Any] = read_manifest(root)["files"]
    problems = [f"missing: {rel}" for rel in sorted(listed) if not (root / rel).is_file()]
    for rel in sorted(listed):
        path = root / rel
        if path.is_file() and sha256_file(path) != listed[rel].get("sha256"):
            problems.append(f"changed: {rel} (sha256 differs from {MANIFEST_NAME})")
    problems += [f"not in manifest: {rel}" for rel in _tree_files(root) if rel not in listed]
    return problems
