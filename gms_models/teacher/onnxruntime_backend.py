"""The teacher under ONNX Runtime: numpy on CPU, torch tensors bound as I/O on CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gms_models.errors import ConfigError
from gms_models.runtime.errors import BackendUnavailableError
from gms_models.runtime.manifest import ENCODER_INPUT, ENCODER_OUTPUT
from gms_models.runtime.sessions import CPU_PROVIDER, CUDA_PROVIDER
from gms_models.teacher.base import (
    TeacherBackend,
    TeacherSpec,
    check_teacher_input,
    ensure_teacher_onnx,
)
from gms_models.teacher_options import TeacherPrecision


def onnxruntime_cuda_available() -> bool:
    import onnxruntime as ort

    return CUDA_PROVIDER in ort.get_available_providers() and torch.cuda.is_available()


class OnnxRuntimeTeacher(TeacherBackend):
    """fp32 only: ONNX Runtime runs the graph at the precision it was exported in."""

    name = "onnxruntime"

    def __init__(
        self,
        spec: TeacherSpec,
        device: torch.device,
        precision: TeacherPrecision = "fp32",
        *,
        onnx_path: str | Path | None = None,
        cache_dir: str | Path | None = None,
        intra_op_threads: int | None = None,
    ) -> None:
        if precision != "fp32":
            raise ConfigError(
                f"the onnxruntime teacher runs in fp32 only, got precision {precision!r}"
            )
        import onnxruntime as ort

        super().__init__(spec, device, precision)
        if device.type == "cuda" and not onnxruntime_cuda_available():
            raise BackendUnavailableError(
                f"onnxruntime teacher on {device} needs onnxruntime-gpu with "
                f"{CUDA_PROVIDER}; available providers: {', '.join(ort.get_available_providers())}"
            )
        self.onnx_path = ensure_teacher_onnx(spec, cache_dir, onnx_path=onnx_path)
        options = ort.SessionOptions()
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        self._device_id = 0
        providers: list[str | tuple[str, dict[str, object]]] = [CPU_PROVIDER]
        if device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            stream = str(torch.cuda.current_stream(index).cuda_stream)
            self._device_id = index
            providers = [(CUDA_PROVIDER, {"device_id": index, "user_compute_stream": stream})]
        self.session = ort.InferenceSession(
            str(self.onnx_path), sess_options=options, providers=providers
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_teacher_input(images, self.spec.img_size)
        images = images.to(self.device, dtype=torch.float32, non_blocking=True).contiguous()
        if self.device.type == "cuda":
            return self._run_cuda(images)
        (features,) = self.session.run([ENCODER_OUTPUT], {ENCODER_INPUT: images.numpy()})
        return torch.from_numpy(features)

    def _run_cuda(self, images: torch.Tensor) -> torch.Tensor:
        features = self._empty_features(images.shape[0])
        binding = self.session.io_binding()
        for bind, name, tensor in (
            (binding.bind_input, ENCODER_INPUT, images),
            (binding.bind_output, ENCODER_OUTPUT, features),
        ):
            bind(name, "cuda", self._device_id, np.float32, tuple(tensor.shape), tensor.data_ptr())
        self.session.run_with_iobinding(binding)
        return features

    def close(self) -> None:
        del self.session
