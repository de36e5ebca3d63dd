"""Issue 17, item 4: an export folder whose files no longer are what was exported is refused,
naming the file, before any of it runs (``gms segment --onnx`` exits 2)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gms_models.runtime import Artifact, BundleError, BundleManifest

GMS = Path(sys.executable).with_name("gms")
ENCODER = b"encoder graph bytes " * 64
DECODER = b"decoder graph bytes " * 64


def _bundle(folder: Path) -> Path:
    folder.mkdir()
    artifacts = (
        Artifact("tiny.onnx", "encoder", "onnxruntime", "fp32"),
        Artifact("mask_decoder.onnx", "decoder", "onnxruntime", "fp32", multimask_output=False),
    )
    manifest = BundleManifest(
        arch="tiny", img_size=64, pixel_mean=(1, 2, 3), pixel_std=(4, 5, 6), artifacts=artifacts
    )
    (folder / "bundle.json").write_text(manifest.to_json())
    for art, content in zip(artifacts, (ENCODER, DECODER), strict=True):
        (folder / art.file).write_bytes(content)
        meta = {"role": art.role, "img_size": 64, "sha256": hashlib.sha256(content).hexdigest()}
        (folder / f"{art.file}.json").write_text(json.dumps(meta))
    return folder


def test_an_intact_bundle_reads(tmp_path: Path) -> None:
    assert BundleManifest.read(_bundle(tmp_path / "b")).img_size == 64


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda f: (f / "tiny.onnx").write_bytes(ENCODER[:-1] + b"\0"),
            r"tiny\.onnx does not match",
        ),
        (lambda f: (f / "tiny.onnx").write_bytes(ENCODER[:100]), r"tiny\.onnx does not match"),
        (lambda f: (f / "tiny.onnx.json").unlink(), r"tiny\.onnx\.json is missing"),
        (lambda f: (f / "tiny.onnx.json").write_text("{"), r"tiny\.onnx\.json is malformed"),
    ],
    ids=["one-byte-changed", "truncated", "metadata-missing", "metadata-malformed"],
)
def test_a_changed_file_is_refused_naming_it(tmp_path: Path, damage, message: str) -> None:
    folder = _bundle(tmp_path / "b")
    damage(folder)
    with pytest.raises(BundleError, match=message):
        BundleManifest.read(folder)


def test_a_decoder_copied_over_the_encoder_is_refused(tmp_path: Path) -> None:
    folder = _bundle(tmp_path / "b")
    (folder / "tiny.onnx").write_bytes(DECODER)
    (folder / "tiny.onnx.json").write_bytes((folder / "mask_decoder.onnx.json").read_bytes())
    with pytest.raises(BundleError, match=r"tiny\.onnx is a decoder but bundle\.json lists it"):
        BundleManifest.read(folder)


def test_an_edited_img_size_is_refused(tmp_path: Path) -> None:
    folder = _bundle(tmp_path / "b")
    raw = json.loads((folder / "bundle.json").read_text()) | {"img_size": 128}
    (folder / "bundle.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=r"says img_size 128, but tiny\.onnx was exported for 64"):
        BundleManifest.read(folder)


def test_segment_onnx_on_a_damaged_bundle_exits_2_naming_the_file(tmp_path: Path) -> None:
    folder = _bundle(tmp_path / "b")
    (folder / "tiny.onnx").write_bytes(ENCODER[:100])
    image = tmp_path / "img.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    result = subprocess.run(
        [str(GMS), "segment", "--onnx", str(folder), "--image", str(image), "--box", "1,1,9,9",
         "--out", str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "tiny.onnx does not match" in result.stderr
    assert not (tmp_path / "out.npz").exists()
