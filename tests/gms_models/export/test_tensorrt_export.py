"""The TensorRT path: importable and clearly refused without TensorRT; the builder's precision
flags and profile against a stand-in ``tensorrt`` module; on a GPU host (``-m gpu``) fp32 and fp16
engines are built, checked against ONNX Runtime and segment like it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from gms_models.errors import ConfigError
from gms_models.export import EngineBuildError, export_bundle, read_metadata, student_sources
from gms_models.export.onnx_decoder import decoder_parity_cases
from gms_models.export.onnx_encoder import encoder_parity_cases
from gms_models.export.tensorrt import (
    build_engine,
    decoder_profile,
    encoder_profile,
    profile_fits,
)
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


def _stand_in_tensorrt(*, parses: bool = True, builds: bool = True) -> tuple[Any, dict]:
    """Just enough of the TensorRT 10 builder API to record what :func:`build_engine` asks for."""
    calls: dict[str, Any] = {"set": [], "cleared": [], "shapes": {}}

    class Config:
        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            calls["workspace"] = (pool, size)

        def set_flag(self, flag: str) -> None:
            calls["set"].append(flag)

        def clear_flag(self, flag: str) -> None:
            calls["cleared"].append(flag)

        def add_optimization_profile(self, profile: object) -> None:
            calls["profiles"] = calls.get("profiles", 0) + 1

    class OptimizationProfile:
        def set_shape(self, name: str, *shapes: tuple[int, ...]) -> None:
            calls["shapes"][name] = shapes

    class Builder:
        def __init__(self, logger: object) -> None: ...

        def create_network(self, flags: int) -> str:
            return "network"

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> OptimizationProfile:
            return OptimizationProfile()

        def build_serialized_network(self, network: str, config: Config) -> bytes | None:
            return b"engine" if builds else None

    class Logger:
        WARNING = "warning"

        def __init__(self, severity: str) -> None: ...

    class OnnxParser:
        num_errors = 0 if parses else 1

        def __init__(self, network: str, logger: object) -> None: ...

        def parse_from_file(self, path: str) -> bool:
            return parses

        def get_error(self, index: int) -> str:
            return "unsupported operator"

    trt = SimpleNamespace(
        Logger=Logger,
        Builder=Builder,
        OnnxParser=OnnxParser,
        MemoryPoolType=SimpleNamespace(WORKSPACE="workspace"),
        BuilderFlag=SimpleNamespace(TF32="TF32", FP16="FP16", BF16="BF16", INT8="INT8"),
    )
    return trt, calls


@pytest.mark.parametrize(
    ("precision", "set_flags", "cleared_flags"),
    [
        ("fp32", [], ["TF32"]),
        ("fp16", ["FP16"], []),
        ("bf16", ["BF16"], []),
        ("int8", ["INT8"], []),
    ],
)
def test_engine_builder_sets_the_precision_flags_and_the_profile(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    precision: str,
    set_flags: list[str],
    cleared_flags: list[str],
) -> None:
    trt, calls = _stand_in_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    profile = encoder_profile(64, True, max_batch=4, opt_batch=2)
    blob = build_engine(tmp_path / "m.onnx", precision=precision, profile=profile)  # type: ignore[arg-type]
    assert blob == b"engine" and calls["profiles"] == 1
    assert calls["set"] == set_flags and calls["cleared"] == cleared_flags
    assert calls["shapes"] == {"image": ((1, 3, 64, 64), (2, 3, 64, 64), (4, 3, 64, 64))}


def test_engine_builder_failures_say_what_went_wrong(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    profile = encoder_profile(64, False)
    with pytest.raises(EngineBuildError, match=r"unknown engine precision 'fp8'"):
        build_engine(tmp_path / "m.onnx", precision="fp8", profile=profile)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "tensorrt", _stand_in_tensorrt(parses=False)[0])
    with pytest.raises(EngineBuildError, match=r"cannot parse .*m\.onnx: unsupported operator"):
        build_engine(tmp_path / "m.onnx", precision="fp16", profile=profile)
    monkeypatch.setitem(sys.modules, "tensorrt", _stand_in_tensorrt(builds=False)[0])
    with pytest.raises(EngineBuildError, match=r"failed to build a fp16 engine"):
        build_engine(tmp_path / "m.onnx", precision="fp16", profile=profile)
    with pytest.raises(ConfigError, match=r"opt_batch <= max_batch, got 2, 1"):
        encoder_profile(64, False, opt_batch=2)


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
