"""MALSD-layout data for the classification tests, generated once per session (read-only: copy it
before changing anything), and a callback that records the training loop's hook calls."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gms_models.classify import ClassifierFamily, ClassifyCallback, EpochMetrics, FamilyResult
from gms_models.data.demo import DemoScale, demo_paths, generate_demo
from gms_models.profiling import ModelProfile


def _demo_malsd(out: Path, train_per_class: int, test_per_class: int) -> Path:
    scale = DemoScale(
        coco_images=1,
        coco_size=(64, 64),
        malsd_train_per_class=train_per_class,
        malsd_test_per_class=test_per_class,
        malsd_size=(96, 72),
        unlabeled_images=1,
    )
    generate_demo(out, seed=0, scale=scale)
    return demo_paths(out)["malsd"]


@pytest.fixture(scope="session")
def malsd_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 + 4 training and 2 + 2 test frames: one batch of 8 per epoch."""
    return _demo_malsd(tmp_path_factory.mktemp("classify") / "tiny", 4, 2)


@pytest.fixture(scope="session")
def malsd_squares(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clearly separable set in the MALSD layout, 64×64 RGB JPEGs of dark noise: every Act0
    image has one white square (side 16–31 px, anywhere), no NG image has one. 16 + 16 training
    and 8 + 8 test images."""
    root = tmp_path_factory.mktemp("classify") / "squares"
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 16), ("test", 8)):
        for name in ("Act0", "NG"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 120, size=(64, 64, 3), dtype=np.uint8)
                if name == "Act0":
                    side = int(rng.integers(16, 32))
                    x, y = rng.integers(0, 64 - side, size=2)
                    pixels[y : y + side, x : x + side] = 255
                Image.fromarray(pixels).save(folder / f"{name.lower()}_{i:03d}.jpg", quality=95)
    return root


class Recorder(ClassifyCallback):
    """Remembers every hook call as a tuple."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_family_start(
        self, family: ClassifierFamily, profile: ModelProfile, epochs: int, steps: int
    ) -> None:
        self.calls.append(("start", family.slug, profile.input_shape, epochs, steps))

    def on_step_end(self, family: ClassifierFamily, epoch: int, step: int, loss: float) -> None:
        self.calls.append(("step", family.slug, epoch, step, math.isfinite(loss)))

    def on_epoch_end(self, family: ClassifierFamily, metrics: EpochMetrics) -> None:
        self.calls.append(("epoch", family.slug, metrics.epoch))

    def on_family_end(self, result: FamilyResult) -> None:
        self.calls.append(("end", result.slug, len(result.history)))


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
