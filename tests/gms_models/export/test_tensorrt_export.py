"""The TensorRT path: importable and clearly refused without TensorRT; on a GPU host (``-m gpu``)
fp32 and fp16 engines are built, checked against ONNX Runtime and segment like it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gms_models.export import export_bundle, read_metadata, student_sources
from gms_models.export.onnx_decoder import decoder_parity_cases
from gms_models.export.onnx_encoder import encoder_parity_cases
from gms_models.export.tensorrt import decoder_profile, encoder_profile, profile_fits
from gms_models.runtime import BackendUnavailableError, BundlePredictor, TensorRTSession

NO_TENSORRT = importlib.util.find_spec("tensorrt") is None


def test_tensorrt_modules_import_without_tensorrt() -> None:
    code = (
        "import sys, gms_models.export.tensorrt, gms_models.runtime.sessions; "
        "assert 'tensorrt' not in sys.modules, 'tensorrt imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


@pytest.mark.skipif(not NO_TENSORRT, reason="tensorrt is installed here")
def test_engine_session_without_tensorrt_says_what_to_install(tmp_path: Path) -> None:
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"not an engine")
    with pytest.raises(BackendUnavailableError, match=r"uv sync --extra tensorrt"):
        TensorRTSession(engine)


def test_parity_cases_fit_the_optimisation_profiles() -> None:
    image = np.zeros((30, 40, 3), np.uint8)
    for dynamic in (True, False):
        cases = encoder_parity_cases(256, image, batch=2 if dynamic else 1, seed=0)
        assert all(profile_fits(c, encoder_profile(256, dynamic)) for c in cases.values())
    cases = decoder_parity_cases(256, np.zeros((1, 256, 16, 16), np.float32), seed=0)
    assert all(profile_fits(c, decoder_profile(256)) for c in cases.values())
    assert not profile_fits(cases["random_shared_embedding"], decoder_profile(256, max_points=2))


@pytest.mark.gpu
@pytest.mark.parametrize("fp16", [False, True])
def test_engines_build_and_segment_like_onnxruntime(
    tmp_path: Path,
    student_checkpoint: Callable[[str], Path],
    teacher_ckpt: Path,
    fp16: bool,
) -> None:
    precision = "fp16" if fp16 else "fp32"
    result = export_bundle(
        tmp_path / "bundle",
        student_sources(
            "resnet18", student_checkpoint("resnet18"), decoder_checkpoint=teacher_ckpt
        ),
        dynamic_batch=True,
        tensorrt=True,
        fp16=fp16,
    )
    engines = sorted(p.name for p in result.folder.glob("*.engine"))
    assert engines == [
        f"mask_decoder.multimask.{precision}.engine",
        f"mask_decoder.single.{precision}.engine",
        f"resnet18.{precision}.engine",
    ]
    for name in engines:
        meta = read_metadata(result.folder / name)
        assert meta["precision"] == precision and meta["versions"]["tensorrt"]
        assert meta["parity"]["reference"] == "onnxruntime" and meta["gpu"]
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    boxes = np.array([[20, 30, 150, 180]], np.float32)
    masks = {}
    for runtime in ("onnxruntime", "tensorrt"):
        predictor = BundlePredictor.from_folder(result.folder, runtime=runtime)
        predictor.set_image(image)
        masks[runtime] = predictor.predict_batch(boxes=boxes, multimask_output=False).masks
    agreement = (masks["onnxruntime"] == masks["tensorrt"]).mean()
    assert agreement > (0.99 if fp16 else 0.9999)
