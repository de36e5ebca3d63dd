"""The registry's pure parts: what identifies a package, the Table 2 tags, bad URIs and bad
requests (the server-backed path is in tests/flows/test_registry_integration.py)."""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from gms_models.tables import AblationRow
from tasks.registry import RegistryError, download_package, package_sha256, row_tags


def _package(folder: Path, graph: bytes, metadata: str) -> Path:
    folder.mkdir()
    (folder / "bundle.json").write_text('{"profile": "sam"}')
    (folder / "sam_decoder.onnx").write_bytes(graph)
    (folder / "sam_decoder.onnx.json").write_text(metadata)
    return folder


def test_the_sha256_follows_graphs_and_manifest_not_the_parity_seed(tmp_path: Path) -> None:
    one = package_sha256(_package(tmp_path / "a", b"graph", '{"parity_seed": 1}'))
    assert one == package_sha256(_package(tmp_path / "b", b"graph", '{"parity_seed": 2}'))
    assert one != package_sha256(_package(tmp_path / "c", b"other graph", '{"parity_seed": 1}'))


def test_row_tags_carry_the_table2_row() -> None:
    row = AblationRow(
        model="gmf_2282", arch="gmf_2282", miou=0.71234, miou_small=0.5, miou_medium=0.7,
        miou_large=0.8, params_m=2.3, macs_g=4.1, latency_ms={"onnxruntime": 12.345, "torch": 20},
    )  # fmt: skip
    assert row_tags(row) == {
        "miou": "0.7123",
        "miou_small": "0.5",
        "miou_medium": "0.7",
        "miou_large": "0.8",
        "params_m": "2.3",
        "macs_g": "4.1",
        "latency_ms_onnxruntime": "12.35",
        "latency_ms_torch": "20",
    }


def test_bad_model_uris_are_named(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(uri).create_registered_model("gms-encoder")
    with pytest.raises(RegistryError, match="is not a models:/NAME@ALIAS"):
        download_package("runs:/abc/model", uri, tmp_path)
    with pytest.raises(RegistryError, match="models:/gms-encoder@champion names no model version"):
        download_package("models:/gms-encoder@champion", uri, tmp_path)


def _pyfunc_module():
    spec = importlib.util.spec_from_file_location(
        "sam_pyfunc", Path(__file__).parents[2] / "tasks" / "sam_pyfunc.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requests_decode_base64_and_arrays_and_refuse_the_rest() -> None:
    pyfunc = _pyfunc_module()
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    request = pyfunc.SegmentRequest
    assert np.array_equal(pyfunc.request_image(request(image=encoded, prompts=[])), image)
    as_array = request(image_array=image.tolist(), prompts=[])
    assert np.array_equal(pyfunc.request_image(as_array), image)
    with pytest.raises(ValueError, match="exactly one of 'image'"):
        pyfunc.request_image(request(prompts=[]))
    with pytest.raises(ValueError, match="not a base64 PNG or JPEG"):
        pyfunc.request_image(request(image="bm90IGFuIGltYWdl", prompts=[]))
    with pytest.raises(ValueError, match=r"H×W×3 values 0-255, got shape \(1, 2, 2\)"):
        pyfunc.request_image(request(image_array=[[[1, 2], [4, 5]]], prompts=[]))
