"""The metadata JSON written beside every exported artifact (``<file>.json``): what the file is and
how far to trust it (``format`` ``gms-export-artifact/1``, role, arch, img_size, precision, opset,
inputs, outputs, sha256, bytes, parity, source checkpoint, versions, exporter, creation time)."""

from __future__ import annotations

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
    """Installed versions of the packages that shape an artifact (``None`` if absent)."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
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
    """Metadata of the artifact ``file_name`` whose final bytes are at ``content`` (often a
    temporary file not yet moved into place)."""
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
