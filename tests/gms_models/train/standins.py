"""Small stand-ins for the trainer tests: a tiny conv encoder (student and teacher) and images.

Shared by the in-process tests (through the ``standins`` fixture) and the subprocess script
``distill_standin_script.py`` (which imports this file from its own folder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from gms_models.registry import register_encoder
from gms_models.teacher import TeacherBackend, TeacherSpec, TorchTeacher
from gms_models.train import DistillConfig

IMG_SIZE = 32
ARCH = "tiny_standin"


class TinyEncoder(nn.Module):
    """(B,3,S,S) → (B,256,S/16,S/16), with BatchNorm (buffers) and dropout (RNG draws)."""

    def __init__(self, width: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 4, stride=4)
        self.norm = nn.BatchNorm2d(width)
        self.mid = nn.Conv2d(width, 2 * width, 2, stride=2)
        self.drop = nn.Dropout2d(dropout)
        self.head = nn.Conv2d(2 * width, 256, 2, stride=2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm(self.stem(images)))
        x = self.drop(F.gelu(self.mid(x)))
        return self.head(x)


@register_encoder(ARCH)
def build_tiny_standin(img_size: int = IMG_SIZE) -> TinyEncoder:
    """The stand-in student, built from the registry like a real one (any img_size works)."""
    return TinyEncoder()


def tiny_teacher_spec(img_size: int = IMG_SIZE, seed: int = 1234) -> TeacherSpec:
    def build() -> nn.Module:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return TinyEncoder(width=8, dropout=0.0).eval()

    return TeacherSpec(build=build, identity=f"tiny-{seed}-{img_size}", img_size=img_size)


def tiny_teacher(img_size: int = IMG_SIZE) -> TorchTeacher:
    return TorchTeacher(tiny_teacher_spec(img_size), torch.device("cpu"))


class CountingTeacher(TeacherBackend):
    """A real teacher that counts the images it is asked to encode."""

    name = "counting"

    def __init__(self, inner: TeacherBackend) -> None:
        super().__init__(inner.spec, inner.device, inner.precision)
        self.inner = inner
        self.images = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.images += images.shape[0]
        return self.inner(images)

    def close(self) -> None:
        self.inner.close()


def write_images(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` structured RGB PNGs (gradients + noise) of 40..64 pixels per side."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        h, w = (int(v) for v in rng.integers(40, 65, size=2))
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack(
            [xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255 * rng.uniform()], axis=-1
        )
        noisy = base + rng.normal(0, 20, size=base.shape)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(folder / f"img_{i:03d}.png")
    return folder


def tiny_config(images: Path, out_dir: Path, **overrides: object) -> DistillConfig:
    values: dict[str, object] = {
        "arch": ARCH,
        "img_size": IMG_SIZE,
        "images": images,
        "teacher": images / "unused-teacher.pt",
        "teacher_backend": "torch",
        "epochs": 3,
        "batch_size": 4,
        "lr": 3e-3,
        "num_workers": 0,
        "out_dir": out_dir,
        "seed": 7,
    }
    values.update(overrides)
    return DistillConfig(**values)
