"""Session fixtures for the SAM tests: the reference model, its BN-calibrated variant and each
fixture image embedded once (the ViT-T encoder takes seconds on CPU).

The embeddings use the suite's thread count (tests/conftest.py); the tolerances in
tests/tolerances.py cover the 1-vs-2-thread noise the reference README measured.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gms_models.image_io import load_rgb
from gms_models.sam import Sam, SamPredictor, build_sam_vit_t


@pytest.fixture(scope="session")
def fixtures_index(mobile_sam_ref: Path) -> dict[str, Any]:
    return json.loads((mobile_sam_ref / "fixtures_index.json").read_text())


@pytest.fixture(scope="session")
def image_rgb(coco_mini: Path) -> Callable[[str], np.ndarray]:
    cache: dict[str, np.ndarray] = {}

    def load(image_id: str) -> np.ndarray:
        if image_id not in cache:
            cache[image_id] = load_rgb(coco_mini / "val2017" / f"{image_id}.jpg")
        return cache[image_id]

    return load


@pytest.fixture(scope="session")
def reference_outputs(mobile_sam_ref: Path) -> Callable[[str], dict[str, np.ndarray]]:
    """The official outputs stored for one image (``<image>_prompts.npz``), as a dict."""
    cache: dict[str, dict[str, np.ndarray]] = {}

    def load(image_id: str) -> dict[str, np.ndarray]:
        if image_id not in cache:
            with np.load(mobile_sam_ref / f"{image_id}_prompts.npz") as npz:
                cache[image_id] = dict(npz)
        return cache[image_id]

    return load


@pytest.fixture(scope="session")
def teacher_sam(teacher_ckpt: Path) -> Sam:
    return build_sam_vit_t(checkpoint=teacher_ckpt)


def _embedding_cache(
    sam: Sam, image_rgb: Callable[[str], np.ndarray]
) -> Callable[[str], SamPredictor]:
    cache: dict[str, SamPredictor] = {}

    def predictor(image_id: str) -> SamPredictor:
        if image_id not in cache:
            cache[image_id] = SamPredictor(sam)
            cache[image_id].set_image(image_rgb(image_id))
        return cache[image_id]

    return predictor


@pytest.fixture(scope="session")
def embedded(
    teacher_sam: Sam, image_rgb: Callable[[str], np.ndarray]
) -> Callable[[str], SamPredictor]:
    """A predictor with the image already set, computed once per image and session."""
    return _embedding_cache(teacher_sam, image_rgb)


@pytest.fixture(scope="session")
def bn_calibrated_dir(mobile_sam_ref: Path) -> Path:
    return mobile_sam_ref / "supplementary_bn_calibrated"


@pytest.fixture(scope="session")
def bn_calibrated_sam(teacher_ckpt: Path, bn_calibrated_dir: Path) -> Sam:
    """The seed-0 model with the calibrated image-encoder BatchNorm statistics (README recipe)."""
    state = torch.load(teacher_ckpt, weights_only=True)
    state.update(
        torch.load(bn_calibrated_dir / "bn_calibrated_running_stats_seed0.pt", weights_only=True)
    )
    return build_sam_vit_t(checkpoint=state)


@pytest.fixture(scope="session")
def bn_calibrated_embedded(
    bn_calibrated_sam: Sam, image_rgb: Callable[[str], np.ndarray]
) -> Callable[[str], SamPredictor]:
    return _embedding_cache(bn_calibrated_sam, image_rgb)
