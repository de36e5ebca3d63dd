"""An export folder that is missing, incomplete or of another format, and a predictor asked for
what its folder lacks: each gives an error that names the folder or file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from gms_models.errors import DataError
from gms_models.runtime import (
    Artifact,
    BundleError,
    BundleManifest,
    BundlePredictor,
    OnnxRuntimeSession,
)


def _manifest(tmp_path: Path, **changes: object) -> Path:
    manifest = BundleManifest(
        arch="tiny",
        img_size=64,
        pixel_mean=(1.0, 2.0, 3.0),
        pixel_std=(4.0, 5.0, 6.0),
        artifacts=(Artifact("tiny.onnx", "encoder", "onnxruntime", "fp32"),),
    )
    raw = json.loads(manifest.to_json()) | changes
    (tmp_path / "bundle.json").write_text(json.dumps(raw))
    return tmp_path


def _artifact(folder: Path, name: str, content: bytes, role: str = "encoder") -> None:
    """An exported file with the metadata JSON the exporter writes beside it."""
    (folder / name).write_bytes(content)
    meta = {"role": role, "img_size": 64, "sha256": hashlib.sha256(content).hexdigest()}
    (folder / f"{name}.json").write_text(json.dumps(meta))


def test_manifest_round_trip_and_lookup(tmp_path: Path) -> None:
    folder = _manifest(tmp_path)
    _artifact(folder, "tiny.onnx", b"")
    manifest = BundleManifest.read(folder)
    assert manifest.pixel_std == (4.0, 5.0, 6.0)
    assert manifest.find("encoder", "onnxruntime") == manifest.artifacts[0]
    assert manifest.find("encoder", "onnxruntime", "int8") is None
    assert manifest.find("decoder", "onnxruntime", None, False) is None


def test_missing_folder_and_manifest(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"export folder not found: .*nowhere"):
        BundleManifest.read(tmp_path / "nowhere")
    with pytest.raises(BundleError, match=r"not a gms export folder: bundle.json is missing"):
        BundleManifest.read(tmp_path)


def test_listed_file_missing(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"lists tiny.onnx, which is missing"):
        BundleManifest.read(_manifest(tmp_path))


def test_other_format_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"format 'gms-export/9'"):
        BundleManifest.read(_manifest(tmp_path, format="gms-export/9"))
    (tmp_path / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"bundle.json is malformed"):
        BundleManifest.read(tmp_path)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"ONNX file not found"):
        OnnxRuntimeSession(tmp_path / "absent.onnx")


def test_predictor_without_encoder_or_decoder() -> None:
    predictor = BundlePredictor(64, None, {}, name="folder X")
    with pytest.raises(RuntimeError, match=r"set an image"):
        predictor.predict_batch(boxes=np.array([[1, 1, 5, 5]]))
    with pytest.raises(BundleError, match=r"folder X has no image encoder"):
        predictor.set_image(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=r"features must have shape \(1, 256, 4, 4\)"):
        predictor.set_features(np.zeros((1, 256, 64, 64)), (8, 8))
    predictor.set_features(np.zeros((1, 256, 4, 4)), (8, 8))
    with pytest.raises(BundleError, match=r"folder X has no multimask mask decoder"):
        predictor.predict_batch(boxes=np.array([[1, 1, 5, 5]]), multimask_output=True)
