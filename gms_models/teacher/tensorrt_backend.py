"""The teacher as a TensorRT engine (the paper's Table 2 setup), cached: builds take minutes."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch

from gms_models.export.errors import EngineBuildError
from gms_models.export.tensorrt import build_engine, encoder_profile
from gms_models.files import atomic_write, default_cache_dir, sha256_file
from gms_models.runtime.errors import BackendUnavailableError
from gms_models.runtime.manifest import ENCODER_INPUT, ENCODER_OUTPUT
from gms_models.runtime.sessions import import_tensorrt
from gms_models.teacher.base import (
    TeacherBackend,
    TeacherSpec,
    check_teacher_input,
    ensure_teacher_onnx,
)
from gms_models.teacher_options import TeacherPrecision

log = logging.getLogger(__name__)


def tensorrt_available() -> bool:
    try:
        import_tensorrt()
    except BackendUnavailableError:
        return False
    return torch.cuda.is_available()


def engine_cache_key(
    *,
    onnx_sha256: str,
    tensorrt_version: str,
    gpu_name: str,
    precision: TeacherPrecision,
    img_size: int,
    max_batch: int,
    opt_batch: int,
) -> str:
    """Hex sha256 of every input that changes the built engine."""
    fields = {
        "onnx_sha256": onnx_sha256.lower(),
        "tensorrt": tensorrt_version,
        "gpu": gpu_name,
        "precision": precision,
        "img_size": img_size,
        "batch": [1, opt_batch, max_batch],
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


class TensorRTTeacher(TeacherBackend):
    """Torch tensors in place on PyTorch's stream; batches above ``max_batch`` (the profile's
    largest, which the kernels are tuned for) run in chunks."""

    name = "tensorrt"

    def __init__(
        self,
        spec: TeacherSpec,
        device: torch.device,
        precision: TeacherPrecision = "fp16",
        *,
        max_batch: int = 8,
        cache_dir: str | Path | None = None,
    ) -> None:
        trt = import_tensorrt()
        if device.type != "cuda" or not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"the tensorrt teacher backend needs a CUDA device, got {device} "
                f"(torch.cuda.is_available() = {torch.cuda.is_available()})"
            )
        profile = encoder_profile(spec.img_size, True, max_batch=max_batch, opt_batch=max_batch)
        super().__init__(spec, device, precision)
        self.max_batch = max_batch
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.onnx_path = ensure_teacher_onnx(spec, cache)
        key = engine_cache_key(
            onnx_sha256=sha256_file(self.onnx_path),
            tensorrt_version=trt.__version__,
            gpu_name=torch.cuda.get_device_name(device),
            precision=precision,
            img_size=spec.img_size,
            max_batch=max_batch,
            opt_batch=max_batch,
        )
        self.engine_path = cache / "teacher" / "engines" / f"{spec.identity}-{key[:16]}.engine"
        if not self.engine_path.is_file():
            log.info("building TensorRT engine %s (this takes minutes)", self.engine_path)
            blob = build_engine(self.onnx_path, precision=precision, profile=profile)
            atomic_write(self.engine_path, lambda fh: fh.write(blob))
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise EngineBuildError(
                f"TensorRT could not load the cached engine {self.engine_path}; delete it to "
                "rebuild"
            )
        self.context = self.engine.create_execution_context()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_teacher_input(images, self.spec.img_size)
        images = images.to(self.device, dtype=torch.float32, non_blocking=True).contiguous()
        if images.shape[0] <= self.max_batch:
            return self._run(images)
        return torch.cat([self._run(chunk) for chunk in images.split(self.max_batch)])

    def _run(self, images: torch.Tensor) -> torch.Tensor:
        features = self._empty_features(images.shape[0])
        self.context.set_input_shape(ENCODER_INPUT, tuple(images.shape))
        self.context.set_tensor_address(ENCODER_INPUT, images.data_ptr())
        self.context.set_tensor_address(ENCODER_OUTPUT, features.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution failed for {self.engine_path}")
        return features

    def close(self) -> None:
        del self.context, self.engine, self._runtime
