"""Act0/NG classification items of a MALSD split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from gms_models.data.malsd import MALSD_CLASSES, Split, check_rgb_modes, class_images
from gms_models.image_io import load_rgb

ImageTransform = Callable[[Image.Image], torch.Tensor]


def _default_transform(image: Image.Image) -> torch.Tensor:
    chw = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)
    return chw.to(torch.float32) / 255.0


class MalsdClassification(Dataset[tuple[torch.Tensor, int]]):
    """``(image, label)`` items; the default transform gives (3, H, W) float32 in [0, 1]."""

    def __init__(
        self,
        root: str | Path,
        split: Split,
        *,
        transform: ImageTransform | None = None,
        strict: bool = True,
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.transform = transform or _default_transform
        self.strict = strict
        by_class = class_images(self.root, split)
        self.samples: list[tuple[Path, int]] = [
            (path, label) for label, name in enumerate(MALSD_CLASSES) for path in by_class[name]
        ]
        if strict:
            check_rgb_modes([path for path, _ in self.samples])

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def class_counts(self) -> dict[str, int]:
        return {name: self.targets.count(label) for label, name in enumerate(MALSD_CLASSES)}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        image = Image.fromarray(load_rgb(path, strict=self.strict))
        return self.transform(image), label
