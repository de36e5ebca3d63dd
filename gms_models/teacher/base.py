"""The teacher-backend interface and what every backend shares."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from gms_models.errors import CheckpointError, ConfigError
from gms_models.export.onnx_encoder import default_parity_image, export_encoder_onnx
from gms_models.export.onnx_graph import DEFAULT_OPSET
from gms_models.export.sources import TEACHER_ARCH
from gms_models.files import default_cache_dir, sha256_file
from gms_models.geometry import EMBED_DIM, PATCH_STRIDE
from gms_models.teacher_options import TeacherPrecision

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeacherSpec:
    """``identity`` names weights and size (``vit_t-3f2a...-1024``): every teacher cache's key."""

    build: Callable[[], nn.Module]
    identity: str
    img_size: int

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, img_size: int = 1024) -> TeacherSpec:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise CheckpointError(f"teacher checkpoint not found: {checkpoint}")
        digest = sha256_file(checkpoint)

        def build() -> nn.Module:
            from gms_models.sam import build_sam_vit_t

            return build_sam_vit_t(checkpoint=checkpoint, img_size=img_size).image_encoder.eval()

        return cls(build=build, identity=f"vit_t-{digest[:16]}-{img_size}", img_size=img_size)


class TeacherBackend(ABC):
    """(B,3,T,T) SAM-normalised images -> (B,256,T/16,T/16) float32 features on :attr:`device`."""

    name: ClassVar[str]

    def __init__(self, spec: TeacherSpec, device: torch.device, precision: TeacherPrecision):
        self.spec = spec
        self.device = device
        self.precision = precision

    @abstractmethod
    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    @property
    def identity(self) -> str:
        return f"{self.spec.identity}-{self.name}-{self.precision}"

    @abstractmethod
    def close(self) -> None:
        """Release sessions and engines; the backend is unusable afterwards."""

    def _empty_features(self, batch: int) -> torch.Tensor:
        side = self.spec.img_size // PATCH_STRIDE
        return torch.empty((batch, EMBED_DIM, side, side), dtype=torch.float32, device=self.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.identity}, device={self.device})"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!s} was asked for but CUDA is not available here")
    return resolved


def check_teacher_input(images: torch.Tensor, img_size: int) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != (img_size, img_size):
        raise ConfigError(
            f"teacher input must be (B,3,{img_size},{img_size}), got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise ConfigError(f"teacher input must be a float tensor, got {images.dtype}")


def teacher_onnx_path(spec: TeacherSpec, cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "teacher" / f"{spec.identity}-opset{DEFAULT_OPSET}.onnx"


def ensure_teacher_onnx(
    spec: TeacherSpec, cache_dir: str | Path | None, *, onnx_path: str | Path | None = None
) -> Path:
    """``onnx_path`` if given, else the cached dynamic-batch export, made first if missing."""
    if onnx_path is not None:
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise ConfigError(f"teacher ONNX file not found: {onnx_path}")
        return onnx_path
    path = teacher_onnx_path(spec, default_cache_dir() if cache_dir is None else cache_dir)
    if not path.is_file():
        log.info("exporting the teacher %s to %s", spec.identity, path)
        export_encoder_onnx(
            spec.build(),
            path,
            arch=TEACHER_ARCH,
            img_size=spec.img_size,
            parity_image=default_parity_image(),
            dynamic_batch=True,
        )
    return path
