"""The metadata JSON beside every exported artifact: what it is and how far to trust it."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from gms_models.export.parity import ParityReport
from gms_models.files import read_json, sha256_file, write_json
from gms_models.runtime.manifest import metadata_path

ARTIFACT_FORMAT = "gms-export-artifact/1"
VERSIONED_PACKAGES = ("torch", "onnx", "onnxruntime", "tensorrt")


@dataclass(frozen=True)
class SourceCheckpoint:
    path: str
    sha256: str

    @classmethod
    def of(cls, path: str | Path) -> SourceCheckpoint:
        path = Path(path)
        return cls(path=str(path.resolve()), sha256=sha256_file(path))


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = dict.fromkeys(VERSIONED_PACKAGES)
    for name in VERSIONED_PACKAGES:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            versions[name] = importlib_metadata.version(name)
    return versions


def artifact_metadata(
    content: Path,
    *,
    file_name: str,
    role: str,
    arch: str,
    img_size: int,
    precision: str,
    opset: int | None,
    io: dict[str, list[dict[str, object]]],
    parity: ParityReport | None,
    source: SourceCheckpoint | None,
    exporter: str,
    **extra: Any,
) -> dict[str, Any]:
    """Metadata of ``file_name`` whose bytes are at ``content`` (maybe a temporary file)."""
    return {
        "format": ARTIFACT_FORMAT,
        "file": file_name,
        "role": role,
        "arch": arch,
        "img_size": img_size,
        "precision": precision,
        "opset": opset,
        "inputs": io["inputs"],
        "outputs": io["outputs"],
        "sha256": sha256_file(content),
        "bytes": content.stat().st_size,
        "parity": None if parity is None else parity.to_dict(),
        "source_checkpoint": None if source is None else asdict(source),
        "versions": library_versions(),
        "exporter": exporter,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def write_metadata(artifact: Path, meta: dict[str, Any]) -> Path:
    return write_json(metadata_path(artifact), meta)


def read_metadata(artifact: str | Path) -> dict[str, Any]:
    return read_json(metadata_path(Path(artifact)), what="export metadata")
