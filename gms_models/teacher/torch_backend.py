"""The teacher as a plain PyTorch module: fp32 anywhere, bf16/fp16 autocast on CUDA."""

from __future__ import annotations

import contextlib

import torch

from gms_models.encoders import inference_form
from gms_models.errors import ConfigError
from gms_models.teacher.base import TeacherBackend, TeacherSpec, check_teacher_input
from gms_models.teacher_options import TeacherPrecision

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TorchTeacher(TeacherBackend):
    """The deployed form of ``spec.build()``; float32 features, also under autocast."""

    name = "torch"

    def __init__(
        self,
        spec: TeacherSpec,
        device: torch.device,
        precision: TeacherPrecision = "fp32",
        *,
        channels_last: bool = False,
    ) -> None:
        if precision != "fp32" and device.type != "cuda":
            raise ConfigError(
                f"torch teacher precision {precision!r} needs CUDA autocast; "
                f"on device {device} use precision 'fp32'"
            )
        super().__init__(spec, device, precision)
        self.channels_last = channels_last
        module = inference_form(spec.build()).requires_grad_(False).to(device)
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        self.module = module

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_teacher_input(images, self.spec.img_size)
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        dtype = _AUTOCAST_DTYPES.get(self.precision)
        autocast = torch.autocast("cuda", dtype=dtype) if dtype else contextlib.nullcontext()
        # no_grad, not inference_mode: the features become a loss target, and autograd may
        # save a target for the backward pass, which inference tensors do not allow.
        with torch.no_grad(), autocast:
            features: torch.Tensor = self.module(images)
        return features.float()

    def close(self) -> None:
        del self.module
