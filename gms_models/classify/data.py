"""MALSD splits as classifier inputs: the same augmentation (train) or resize (eval) and SAM
normalisation for every family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from gms_models.classify.config import AugmentConfig, ClassifyConfig
from gms_models.data.malsd_dataset import MalsdClassification
from gms_models.data.transforms import sam_normalize


class TrainTransform:
    """Random resized crop (+ flip) of a PIL RGB image to a normalised (3,S,S) tensor."""

    def __init__(self, img_size: int, augment: AugmentConfig) -> None:
        ops: list[v2.Transform] = [
            v2.RandomResizedCrop(img_size, scale=augment.crop_scale, antialias=True)
        ]
        if augment.hflip:
            ops.append(v2.RandomHorizontalFlip())
        self.ops = v2.Compose(ops)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return sam_normalize(np.asarray(self.ops(image)))


class EvalTransform:
    """Resize (bilinear) of a PIL RGB image to a normalised (3,S,S) tensor."""

    def __init__(self, img_size: int) -> None:
        self.img_size = img_size

    def __call__(self, image: Image.Image) -> torch.Tensor:
        size = (self.img_size, self.img_size)
        return sam_normalize(np.asarray(image.resize(size, Image.Resampling.BILINEAR)))


def malsd_splits(
    root: str | Path, config: ClassifyConfig
) -> tuple[MalsdClassification, MalsdClassification]:
    """The train split (augmented) and the test split (the paper's "val") of the MALSD."""
    train = MalsdClassification(
        root,
        "train",
        transform=TrainTransform(config.img_size, config.augment),
        strict=config.strict_images,
    )
    val = MalsdClassification(
        root, "test", transform=EvalTransform(config.img_size), strict=config.strict_images
    )
    return train, val
