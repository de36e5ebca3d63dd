"""MALSD layout: classification items, layout errors, wrong-mode images, hand-point files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gms_models.data.check import check_dataset
from gms_models.data.demo import demo_paths
from gms_models.data.malsd import (
    MALSD_CLASSES,
    POINTS_FILENAME,
    class_images,
    read_points,
    write_points,
)
from gms_models.data.malsd_dataset import MalsdClassification
from gms_models.errors import DataError, ImageError


@pytest.fixture
def malsd_copy(demo_small: Path, tmp_path: Path) -> Path:
    root = tmp_path / "malsd"
    shutil.copytree(demo_paths(demo_small)["malsd"], root)
    return root


def test_classification_items_and_labels(demo_small: Path) -> None:
    root = demo_paths(demo_small)["malsd"]
    train = MalsdClassification(root, "train")
    assert MALSD_CLASSES == ("Act0", "NG")
    assert train.class_counts() == {"Act0": 16, "NG": 16}
    assert train.targets == [0] * 16 + [1] * 16
    assert all(path.parent.name == MALSD_CLASSES[label] for path, label in train.samples)
    image, label = train[0]
    assert label == 0
    assert image.shape == (3, 120, 160) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    image, label = train[31]
    assert label == 1
    assert MalsdClassification(root, "test").class_counts() == {"Act0": 8, "NG": 8}


def test_transform_hook_gets_the_pil_image(demo_small: Path) -> None:
    seen: list[tuple[str, tuple[int, int]]] = []

    def to_small_tensor(image: Image.Image) -> torch.Tensor:
        seen.append((image.mode, image.size))
        return torch.from_numpy(np.asarray(image.resize((32, 32))).copy()).permute(2, 0, 1)

    dataset = MalsdClassification(
        demo_paths(demo_small)["malsd"], "test", transform=to_small_tensor
    )
    image, _ = dataset[3]
    assert image.shape == (3, 32, 32) and seen == [("RGB", (160, 120))]


@pytest.mark.parametrize("missing", ["train/NG", "test/Act0", "test"])
def test_missing_class_or_split_names_the_folder(malsd_copy: Path, missing: str) -> None:
    shutil.rmtree(malsd_copy / missing)
    with pytest.raises(DataError, match=str(malsd_copy / missing)):
        split = missing.split("/")[0]
        MalsdClassification(malsd_copy, split)  # type: ignore[arg-type]


def test_empty_class_names_the_folder(malsd_copy: Path) -> None:
    for image in (malsd_copy / "train" / "Act0").iterdir():
        image.unlink()
    (malsd_copy / "train" / "Act0" / "notes.txt").write_text("no images")
    with pytest.raises(DataError, match=r"no images.*train/Act0"):
        MalsdClassification(malsd_copy, "train")
    with pytest.raises(DataError, match="not found"):
        class_images(malsd_copy / "nowhere", "train")


@pytest.mark.parametrize(
    ("name", "mode", "fmt"),
    [("gray.jpg", "L", "JPEG"), ("alpha.png", "RGBA", "PNG"), ("print.jpg", "CMYK", "JPEG")],
)
def test_wrong_mode_image_is_refused_in_strict_mode(
    malsd_copy: Path, name: str, mode: str, fmt: str
) -> None:
    path = malsd_copy / "train" / "NG" / name
    Image.new(mode, (160, 120)).save(path, format=fmt)
    with pytest.raises(ImageError) as info:
        MalsdClassification(malsd_copy, "train")
    assert str(path) in str(info.value) and f"mode {mode}" in str(info.value)
    lenient = MalsdClassification(malsd_copy, "train", strict=False)
    index = [p for p, _ in lenient.samples].index(path)
    image, label = lenient[index]
    assert image.shape == (3, 120, 160) and label == 1
    assert [b.path for b in check_dataset(malsd_copy, layout="malsd").bad_images] == [path]


def test_points_file_of_the_demo_data(demo_small: Path) -> None:
    root = demo_paths(demo_small)["malsd"]
    points = read_points(root)
    assert len(points) == 16
    first = points[0]
    assert first.file == "test/Act0/act0_0000.jpg" and first.path == root / first.file
    assert first.points.dtype == np.float32 and first.labels.dtype == np.int64


def test_points_round_trip_is_byte_stable(tmp_path: Path, demo_small: Path) -> None:
    root = tmp_path / "m"
    shutil.copytree(demo_paths(demo_small)["malsd"], root)
    entries = [
        ("test/NG/ng_0001.jpg", np.array([[10.0, 20.0], [30.5, 40.25]]), np.array([1, 0])),
        ("test/Act0/act0_0002.jpg", np.array([[5.0, 6.0]]), np.array([1])),
    ]
    write_points(root / POINTS_FILENAME, entries)
    first_bytes = (root / POINTS_FILENAME).read_bytes()
    write_points(root / POINTS_FILENAME, entries[::-1])
    assert (root / POINTS_FILENAME).read_bytes() == first_bytes
    read = read_points(root)
    assert [p.file for p in read] == ["test/Act0/act0_0002.jpg", "test/NG/ng_0001.jpg"]
    np.testing.assert_array_equal(read[1].points, [[10.0, 20.0], [30.5, 40.25]])
    assert read[1].labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"file": "test/NG/ng_0000.jpg", "points": [[1, 2]], "labels": [1, 1]}, "1 points but 2"),
        ({"file": "test/NG/ng_0000.jpg", "points": [], "labels": []}, "images.0.points"),
        ({"file": "test/NG/ng_0000.jpg", "points": [[1, 2]], "labels": [2]}, "images.0.labels"),
        ({"file": "test/NG/ng_0000.jpg", "points": [[160, 2]], "labels": [1]}, "outside"),
        ({"file": "test/NG/nope.jpg", "points": [[1, 2]], "labels": [1]}, "nope.jpg"),
    ],
)
def test_malformed_points_files(malsd_copy: Path, entry: dict, message: str) -> None:
    (malsd_copy / POINTS_FILENAME).write_text(json.dumps({"version": 1, "images": [entry]}))
    with pytest.raises(DataError, match=message):
        read_points(malsd_copy)


def test_points_file_missing_or_duplicated(malsd_copy: Path) -> None:
    entry = {"file": "test/NG/ng_0000.jpg", "points": [[1, 2]], "labels": [1]}
    (malsd_copy / POINTS_FILENAME).write_text(json.dumps({"version": 1, "images": [entry] * 2}))
    with pytest.raises(DataError, match="listed twice"):
        read_points(malsd_copy)
    (malsd_copy / POINTS_FILENAME).unlink()
    with pytest.raises(DataError, match="not found"):
        read_points(malsd_copy)
