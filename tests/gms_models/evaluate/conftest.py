"""Fixtures of the evaluator tests: coco-mini subsets, the random-weight teacher at 256, a
perturbed copy of it, and a tiny generated MALSD folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gms_models.data.coco import CocoInstances
from gms_models.data.demo import demo_paths, generate_demo
from gms_models.evaluate.run import build_teacher_sam
from gms_models.sam import Sam

#: Evaluation size of the fast tests: the encoders are 16× cheaper than at 1024.
FAST_SIZE = 256


@pytest.fixture(scope="session")
def coco_ann(coco_mini: Path) -> Path:
    return coco_mini / "annotations" / "instances_val2017.json"


@pytest.fixture(scope="session")
def coco_images(coco_mini: Path) -> Path:
    return coco_mini / "val2017"


@pytest.fixture(scope="session")
def coco_two(coco_ann: Path, coco_images: Path) -> CocoInstances:
    """The first two images by id: 19 non-crowd annotations in all three bins, one crowd."""
    return CocoInstances(coco_ann, coco_images, max_images=2)


@pytest.fixture(scope="session")
def teacher_fast(teacher_ckpt: Path) -> Sam:
    return build_teacher_sam(teacher_ckpt, FAST_SIZE)


@pytest.fixture(scope="session")
def perturbed_fast(teacher_ckpt: Path) -> Sam:
    """The teacher with noise on every image-encoder weight: same decoder, other features."""
    sam = build_teacher_sam(teacher_ckpt, FAST_SIZE)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in sam.image_encoder.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=generator))
    return sam.eval()


@pytest.fixture(scope="session")
def demo_malsd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated MALSD folder (tiny scale: 2 test images per class, 160×120)."""
    root = tmp_path_factory.mktemp("demo") / "data"
    generate_demo(root, seed=0, scale="tiny")
    return demo_paths(root)["malsd"]
