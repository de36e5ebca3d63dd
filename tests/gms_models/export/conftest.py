"""Session fixtures of the export tests: the teacher exported once at 1024 (its real-image parity
run on a reference COCO image), random-init students saved as checkpoints, and reference data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from gms_models.checkpoint import save_student
from gms_models.export import BundleResult, export_bundle, teacher_sources
from gms_models.image_io import load_rgb
from gms_models.registry import build_encoder

PARITY_IMAGE = "000000104455"
STUDENT_SIZE = 256


@pytest.fixture(scope="session")
def reference_image(coco_mini: Path) -> Callable[[str], np.ndarray]:
    def load(image_id: str) -> np.ndarray:
        return load_rgb(coco_mini / "val2017" / f"{image_id}.jpg")

    return load


@pytest.fixture(scope="session")
def teacher_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    teacher_ckpt: Path,
    reference_image: Callable[[str], np.ndarray],
) -> BundleResult:
    """``export_bundle`` of MobileSAM at 1024: encoder (dynamic batch) and both decoders."""
    out = tmp_path_factory.mktemp("teacher") / "vit_t"
    return export_bundle(
        out,
        teacher_sources("vit_t", teacher_ckpt, 1024),
        dynamic_batch=True,
        parity_image=reference_image(PARITY_IMAGE),
    )


@pytest.fixture(scope="session")
def student_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A ``student.pt`` of a random-init registered encoder at 256 (seed 0), per arch."""
    cache: dict[str, Path] = {}

    def make(arch: str) -> Path:
        if arch not in cache:
            torch.manual_seed(0)
            model = build_encoder(arch, img_size=STUDENT_SIZE)
            path = tmp_path_factory.mktemp(f"student-{arch}") / "student.pt"
            save_student(
                path, arch=arch, img_size=STUDENT_SIZE, state_dict=model.state_dict(), config={}
            )
            cache[arch] = path
        return cache[arch]

    return make
