"""Teacher backends on the CPU with a small conv encoder: torch, ONNX Runtime, TensorRT's CPU-side
parts (cache key, clear errors) and the choice by name or availability."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from gms_models.errors import ConfigError
from gms_models.export import ExportResult, default_parity_image, export_encoder_onnx
from gms_models.runtime.errors import BackendUnavailableError
from gms_models.runtime.manifest import ENCODER_INPUT, ENCODER_OUTPUT
from gms_models.teacher import (
    OnnxRuntimeTeacher,
    TeacherSpec,
    TensorRTTeacher,
    TorchTeacher,
    engine_cache_key,
    resolve_backend_name,
    select_teacher,
    teacher_onnx_path,
)

CPU = torch.device("cpu")
SIZE = 64


class SmallEncoder(nn.Module):
    """(B,3,S,S) → (B,256,S/16,S/16) with a LayerNorm-like channel norm, like SAM's neck."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 8, stride=8)
        self.mix = nn.Conv2d(32, 32, 3, padding=1, groups=4)
        self.neck = nn.Conv2d(32, 256, 2, stride=2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.patch(images))
        x = x + self.mix(x)
        x = self.neck(x)
        return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-6)


def _spec(seed: int = 0) -> TeacherSpec:
    def build() -> nn.Module:
        torch.manual_seed(seed)
        return SmallEncoder().eval()

    return TeacherSpec(build=build, identity=f"small-{seed}-{SIZE}", img_size=SIZE)


def _export(encoder: nn.Module, dest: Path) -> ExportResult:
    return export_encoder_onnx(
        encoder,
        dest,
        arch="small",
        img_size=SIZE,
        parity_image=default_parity_image(),
        dynamic_batch=True,
    )


def _rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_torch_teacher_gives_float32_features_without_grad() -> None:
    teacher = TorchTeacher(_spec(), CPU)
    images = torch.randn(2, 3, SIZE, SIZE, requires_grad=True)
    features = teacher(images)
    assert features.shape == (2, 256, 4, 4) and features.dtype == torch.float32
    assert not features.requires_grad
    assert teacher.identity == "small-0-64-torch-fp32"
    with pytest.raises(ConfigError, match=r"\(B,3,64,64\)"):
        teacher(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_torch_teacher_refuses_autocast_precisions_without_cuda(precision: str) -> None:
    with pytest.raises(ConfigError, match=f"precision '{precision}' needs CUDA"):
        TorchTeacher(_spec(), CPU, precision)  # type: ignore[arg-type]


def test_onnxruntime_teacher_exports_valid_dynamic_batch_onnx_matching_torch(
    tmp_path: Path,
) -> None:
    spec = _spec()
    teacher = OnnxRuntimeTeacher(spec, CPU, cache_dir=tmp_path)
    assert teacher.onnx_path == teacher_onnx_path(spec, tmp_path)

    model = onnx.load(str(teacher.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    (graph_input,) = model.graph.input
    (graph_output,) = model.graph.output
    assert (graph_input.name, graph_output.name) == (ENCODER_INPUT, ENCODER_OUTPUT)
    in_dims = graph_input.type.tensor_type.shape.dim
    assert in_dims[0].dim_param and [d.dim_value for d in in_dims[1:]] == [3, SIZE, SIZE]

    reference = TorchTeacher(spec, CPU)
    for batch in (1, 3):  # parity-checked at batch 2 on export: other sizes must work too
        images = torch.randn(batch, 3, SIZE, SIZE)
        ours = teacher(images)
        assert ours.shape == (batch, 256, 4, 4) and ours.dtype == torch.float32
        assert _rel_l2(ours, reference(images)) < 1e-5

    # the cached export is reused, not rebuilt
    stamp = teacher.onnx_path.stat().st_mtime_ns
    OnnxRuntimeTeacher(spec, CPU, cache_dir=tmp_path)
    assert teacher.onnx_path.stat().st_mtime_ns == stamp


def test_onnxruntime_teacher_runs_a_given_onnx_file_and_refuses_other_precisions(
    tmp_path: Path,
) -> None:
    spec = _spec(seed=1)
    onnx_file = _export(spec.build(), tmp_path / "given.onnx").path
    teacher = OnnxRuntimeTeacher(spec, CPU, onnx_path=onnx_file, cache_dir=tmp_path / "cache")
    assert teacher.onnx_path == onnx_file and not (tmp_path / "cache").exists()
    with pytest.raises(ConfigError, match=r"missing\.onnx"):
        OnnxRuntimeTeacher(spec, CPU, onnx_path=tmp_path / "missing.onnx")
    with pytest.raises(ConfigError, match="fp32 only"):
        OnnxRuntimeTeacher(spec, CPU, "fp16", onnx_path=onnx_file)


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    class Broken(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("cannot trace")

    dest = tmp_path / "broken.onnx"
    with pytest.raises(Exception, match="cannot trace"):
        _export(Broken(), dest)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt present")
def test_tensorrt_teacher_explains_what_is_missing_here() -> None:
    with pytest.raises(BackendUnavailableError, match=r"'tensorrt' Python package.*--extra"):
        TensorRTTeacher(_spec(), CPU)
    with pytest.raises(BackendUnavailableError, match="tensorrt"):
        select_teacher("tensorrt", spec=_spec(), device=CPU)


def test_engine_cache_key_changes_with_every_input_that_shapes_the_engine() -> None:
    base = {
        "onnx_sha256": "ab" * 32,
        "tensorrt_version": "10.3.0",
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "precision": "fp16",
        "img_size": 1024,
        "max_batch": 8,
        "opt_batch": 8,
    }
    key = engine_cache_key(**base)
    assert len(key) == 64 and key == engine_cache_key(**base)
    assert key == engine_cache_key(**{**base, "onnx_sha256": "AB" * 32})
    changed = {
        "onnx_sha256": "cd" * 32,
        "tensorrt_version": "10.4.0",
        "gpu_name": "NVIDIA GeForce RTX 4090",
        "precision": "fp32",
        "img_size": 512,
        "max_batch": 16,
        "opt_batch": 4,
    }
    for field, value in changed.items():
        assert engine_cache_key(**{**base, field: value}) != key, field


def test_auto_backend_on_this_cpu_is_onnxruntime_and_names_are_checked(tmp_path: Path) -> None:
    assert resolve_backend_name("auto", CPU) == "onnxruntime"
    assert resolve_backend_name("torch", CPU) == "torch"
    with pytest.raises(ConfigError, match="unknown teacher backend 'jax'"):
        resolve_backend_name("jax", CPU)  # type: ignore[arg-type]
    teacher = select_teacher("auto", spec=_spec(), device="cpu", cache_dir=tmp_path)
    assert isinstance(teacher, OnnxRuntimeTeacher) and teacher.precision == "fp32"
    assert isinstance(select_teacher("torch", spec=_spec(), device="auto"), TorchTeacher)
