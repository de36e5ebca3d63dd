"""Bad MALSD input is refused with a message naming the folder or file, before any training."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gms_models.classify import parse_config, run_encoder_selection, run_family
from gms_models.classify.train import malsd_splits
from gms_models.errors import ConfigError, DataError, ImageError


@pytest.fixture
def malsd_copy(malsd_tiny: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(malsd_tiny, tmp_path / "malsd"))


CONFIG = parse_config(families="pit", img_size=64, epochs=1, batch_size=4)


def test_an_empty_class_folder_is_named(malsd_copy: Path, recorder: Any) -> None:
    for image in (malsd_copy / "train" / "NG").iterdir():
        image.unlink()
    with pytest.raises(DataError, match=r"class folder has no images.*train/NG"):
        run_encoder_selection(malsd_copy, CONFIG, [recorder])
    assert recorder.calls == []


def test_a_missing_split_is_named(malsd_copy: Path) -> None:
    shutil.rmtree(malsd_copy / "test")
    with pytest.raises(DataError, match=r"split folder missing: .*malsd/test"):
        run_family(malsd_copy, "pit", CONFIG)


def test_a_grayscale_image_is_refused_in_strict_mode_and_converted_otherwise(
    malsd_copy: Path, recorder: Any
) -> None:
    victim = sorted((malsd_copy / "test" / "Act0").iterdir())[0]
    with Image.open(victim) as image:
        image.convert("L").save(victim)
    with pytest.raises(ImageError, match=rf"{victim.name} \(mode L\)"):
        run_encoder_selection(malsd_copy, CONFIG, [recorder])
    assert recorder.calls == []
    lenient = CONFIG.model_copy(update={"strict_images": False})
    _, val = malsd_splits(malsd_copy, lenient)
    index = [path for path, _ in val.samples].index(victim)
    image, label = val[index]
    assert (tuple(image.shape), label) == ((3, 64, 64), 0)


def test_a_family_that_cannot_take_the_size_is_refused(malsd_copy: Path) -> None:
    with pytest.raises(ConfigError, match=r"RegionViT \(regionvit\) cannot take img_size=64"):
        run_family(malsd_copy, "regionvit", CONFIG)
