"""An export folder that is missing, incomplete or of another format, and a predictor asked for
what its folder lacks: each gives an error that names the folder or file. Also the ONNX Runtime
settings saved in a bundle: read back, checked, and used by the predictor's sessions."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from gms_models.errors import DataError
from gms_models.runtime import (
    Artifact,
    BundleError,
    BundleManifest,
    BundlePredictor,
    OnnxRuntimeSession,
    OrtSettings,
)
from gms_models.runtime.sessions import spare_one_core_threads


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
    assert manifest.ort_settings == OrtSettings()  # a bundle without settings gets the defaults


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


def _identity_onnx() -> bytes:
    """A valid ONNX graph with the encoder's input name (the predictor only opens it here)."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])
    out = helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 3, 64, 64])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["image_embeddings"])], "tiny", [image], [out]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_predictor_sessions_run_with_the_saved_settings(tmp_path: Path) -> None:
    saved = OrtSettings(threads=1, spinning=True, graph_optimization="basic")
    folder = _manifest(
        tmp_path, ort_settings={"threads": 1, "spinning": True, "graph_optimization": "basic"}
    )
    _artifact(folder, "tiny.onnx", _identity_onnx())
    assert BundleManifest.read(folder).ort_settings == saved
    encoder = BundlePredictor.from_folder(folder).encoder
    assert isinstance(encoder, OnnxRuntimeSession) and encoder.settings == saved
    options = encoder.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threads": 0}, r"threads must be a positive integer or null, got 0"),
        ({"threads": "2"}, r"threads must be a positive integer or null, got '2'"),
        ({"spinning": "no"}, r"spinning must be true or false, got 'no'"),
        ({"graph_optimization": "max"}, r"graph_optimization 'max' is not one of disable, basic"),
    ],
)
def test_bad_saved_settings_name_the_file_field_and_value(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    folder = _manifest(tmp_path, ort_settings=settings)
    with pytest.raises(BundleError, match=rf"bundle.json has bad ort_settings: .*{message}"):
        BundleManifest.read(folder)


def test_unknown_saved_setting_is_malformed(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"bundle.json is malformed: .*'inter_threads'"):
        BundleManifest.read(_manifest(tmp_path, ort_settings={"inter_threads": 2}))


def test_default_threads_leave_one_core_to_the_neighbours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _manifest(tmp_path)
    _artifact(folder, "tiny.onnx", _identity_onnx())
    encoder = BundlePredictor.from_folder(folder).encoder
    assert isinstance(encoder, OnnxRuntimeSession)
    options = encoder.session.get_session_options()
    assert options.intra_op_num_threads == spare_one_core_threads()
    # CPUs without topology files count as cores of their own
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(10_000, 10_008)))
    assert spare_one_core_threads() == 7
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {10_000})
    assert spare_one_core_threads() == 1
