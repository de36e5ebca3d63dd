"""Choosing a teacher backend by name or by what this machine has."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import get_args

import torch

from gms_models.errors import ConfigError
from gms_models.teacher.base import TeacherBackend, TeacherSpec, resolve_device
from gms_models.teacher.onnxruntime_backend import OnnxRuntimeTeacher, onnxruntime_cuda_available
from gms_models.teacher.tensorrt_backend import TensorRTTeacher, tensorrt_available
from gms_models.teacher.torch_backend import TorchTeacher
from gms_models.teacher_options import BackendName, PrecisionChoice, TeacherPrecision

log = logging.getLogger(__name__)

BACKEND_NAMES: tuple[str, ...] = get_args(BackendName)


def resolve_backend_name(name: BackendName, device: torch.device) -> str:
    if name not in BACKEND_NAMES:
        raise ConfigError(f"unknown teacher backend {name!r}; choose one of {BACKEND_NAMES}")
    if name != "auto":
        return name
    if device.type == "cuda":
        if tensorrt_available():
            return "tensorrt"
        return "onnxruntime" if onnxruntime_cuda_available() else "torch"
    return "onnxruntime" if device.type == "cpu" else "torch"


def select_teacher(
    name: BackendName = "auto",
    *,
    spec: TeacherSpec,
    device: str | torch.device = "auto",
    precision: PrecisionChoice = "auto",
    cache_dir: str | Path | None = None,
    max_batch: int = 8,
    channels_last: bool = False,
) -> TeacherBackend:
    """``max_batch`` sizes the TensorRT profile; ``channels_last`` is the torch backend's."""
    device = resolve_device(device)
    backend = resolve_backend_name(name, device)
    # auto: fp16 for TensorRT (the paper's engine), fp32 for the others
    on_tensorrt = backend == "tensorrt" and device.type == "cuda"
    resolved_precision: TeacherPrecision = (
        precision if precision != "auto" else "fp16" if on_tensorrt else "fp32"
    )
    log.info("teacher backend %s (%s) on %s", backend, resolved_precision, device)
    if backend == "torch":
        return TorchTeacher(spec, device, resolved_precision, channels_last=channels_last)
    if backend == "onnxruntime":
        return OnnxRuntimeTeacher(spec, device, resolved_precision, cache_dir=cache_dir)
    return TensorRTTeacher(
        spec, device, resolved_precision, max_batch=max_batch, cache_dir=cache_dir
    )
