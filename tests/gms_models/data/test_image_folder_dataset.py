"""Unlabeled image folder with the nanosam transform: shapes, values, seeded crops, bad images."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from gms_models.data.demo import demo_paths
from gms_models.data.image_folder import DistillSample, ImageFolderDataset
from gms_models.data.transforms import (
    crop_rng,
    sam_denormalize,
    sample_crop,
)
from gms_models.errors import ConfigError, DataError, ImageError
from gms_models.geometry import PIXEL_MEAN, PIXEL_STD


def _write(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def _gradient(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    _write(root / "b.png", _gradient(90, 60, 1))
    _write(root / "a.jpg", _gradient(60, 80, 2))
    _write(root / "sub" / "deeper" / "c.jpeg", _gradient(120, 100, 3))
    _write(root / "sub" / "d.PNG", _gradient(70, 70, 4))
    (root / "notes.txt").write_text("not an image")
    _write(root / ".hidden" / "e.png", _gradient(50, 50, 5))
    return root


def test_finds_images_recursively_in_sorted_order(folder: Path) -> None:
    dataset = ImageFolderDataset(folder, teacher_size=32)
    rel = [p.relative_to(folder).as_posix() for p in dataset.paths]
    assert rel == ["a.jpg", "b.png", "sub/d.PNG", "sub/deeper/c.jpeg"]
    assert len(dataset) == 4


def test_shapes_dtypes_and_student_resize(folder: Path) -> None:
    dataset = ImageFolderDataset(folder, teacher_size=64, student_size=32, seed=7)
    item = dataset[2]
    assert isinstance(item, DistillSample)
    assert item.teacher.shape == (3, 64, 64) and item.teacher.dtype == torch.float32
    assert item.student.shape == (3, 32, 32) and item.student.dtype == torch.float32
    assert item.index == 2
    # the student sees the same crop: the teacher crop shrunk to 32 is close to it
    teacher_rgb = sam_denormalize(item.teacher).clamp(0, 255).round().to(torch.uint8)
    shrunk = Image.fromarray(teacher_rgb.permute(1, 2, 0).numpy()).resize(
        (32, 32), Image.Resampling.BILINEAR
    )
    student_rgb = sam_denormalize(item.student).permute(1, 2, 0).numpy()
    other = sam_denormalize(dataset.sample(2, epoch=5).student).permute(1, 2, 0).numpy()
    near = np.abs(np.asarray(shrunk, dtype=np.float32) - student_rgb).mean()
    far = np.abs(np.asarray(shrunk, dtype=np.float32) - other).mean()
    assert near < 12 and near < far / 3


def test_same_size_student_is_the_teacher_tensor(folder: Path) -> None:
    item = ImageFolderDataset(folder, teacher_size=48)[0]
    assert item.student is item.teacher


def test_sam_normalisation_values(tmp_path: Path) -> None:
    colour = np.array([200, 30, 120], dtype=np.uint8)
    _write(tmp_path / "flat.png", np.broadcast_to(colour, (40, 50, 3)).copy())
    item = ImageFolderDataset(tmp_path, teacher_size=16)[0]
    expected = (colour.astype(np.float64) - np.array(PIXEL_MEAN)) / np.array(PIXEL_STD)
    for channel in range(3):
        assert torch.allclose(
            item.teacher[channel], torch.full((16, 16), float(expected[channel])), atol=1e-5
        )


def test_crops_are_a_function_of_seed_epoch_and_index(folder: Path) -> None:
    dataset = ImageFolderDataset(folder, teacher_size=32, student_size=16, seed=3)
    reference = {(e, i): dataset.sample(i, epoch=e).teacher for e in (0, 1) for i in range(4)}
    # any order, a fresh dataset object, and set_epoch give the same items
    fresh = ImageFolderDataset(folder, teacher_size=32, student_size=16, seed=3)
    for epoch, index in [(1, 3), (0, 2), (1, 0), (0, 0)]:
        fresh.set_epoch(epoch)
        assert torch.equal(fresh[index].teacher, reference[(epoch, index)])
    assert not torch.equal(reference[(0, 1)], reference[(1, 1)])
    other_seed = ImageFolderDataset(folder, teacher_size=32, student_size=16, seed=4)
    assert not torch.equal(other_seed.sample(1, epoch=0).teacher, reference[(0, 1)])


def test_fixed_crops_do_not_change_across_epochs(folder: Path) -> None:
    dataset = ImageFolderDataset(folder, teacher_size=32, seed=3, fixed_crops=True)
    first = [dataset.sample(i, epoch=0).teacher for i in range(4)]
    for epoch in (1, 7):
        dataset.set_epoch(epoch)
        assert all(torch.equal(dataset[i].teacher, first[i]) for i in range(4))


def test_crop_boxes_follow_random_resized_crop_ranges() -> None:
    areas, ratios = [], []
    for index in range(300):
        left, top, right, bottom = sample_crop(640, 480, crop_rng(0, 0, index))
        assert left >= 0 and right <= 640
        assert top >= 0 and bottom <= 480
        areas.append((right - left) * (bottom - top) / (640 * 480))
        ratios.append((right - left) / (bottom - top))
    assert min(areas) >= 0.07 and max(areas) <= 1.0
    assert min(areas) < 0.2 and max(areas) > 0.8, "the area fraction spans 0.08..1"
    assert min(ratios) >= 0.74 and max(ratios) <= 1.35
    # a very wide image falls back to a centre crop clamped to ratio 4/3
    left, top, right, bottom = sample_crop(1000, 10, crop_rng(0, 0, 0), scale=(0.99, 1.0))
    assert (right - left, bottom - top) == (13, 10) and left == (1000 - 13) // 2


def test_batches_through_a_dataloader(demo_small: Path) -> None:
    dataset = ImageFolderDataset(
        demo_paths(demo_small)["unlabeled"], teacher_size=64, student_size=32
    )
    batch = next(iter(DataLoader(dataset, batch_size=4, shuffle=False)))
    assert isinstance(batch, DistillSample)
    assert batch.teacher.shape == (4, 3, 64, 64) and batch.student.shape == (4, 3, 32, 32)
    assert batch.index.tolist() == [0, 1, 2, 3]


def test_empty_or_missing_folder_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=str(tmp_path / "empty")):
        ImageFolderDataset(tmp_path / "empty")
    with pytest.raises(DataError, match="not found"):
        ImageFolderDataset(tmp_path / "missing")


def test_bad_settings_are_config_errors(folder: Path) -> None:
    with pytest.raises(ConfigError, match="on_error"):
        ImageFolderDataset(folder, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="positive"):
        ImageFolderDataset(folder, teacher_size=0)


@pytest.fixture
def folder_with_corrupt(folder: Path) -> tuple[Path, Path, Path]:
    truncated = folder / "b2_truncated.jpg"
    Image.fromarray(_gradient(80, 60, 9)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    garbage = folder / "sub" / "garbage.png"
    garbage.write_bytes(b"this is not a png at all")
    return folder, truncated, garbage


def test_corrupt_image_fails_with_its_path(folder_with_corrupt) -> None:
    root, truncated, _ = folder_with_corrupt
    dataset = ImageFolderDataset(root, teacher_size=32)
    index = dataset.paths.index(truncated)
    with pytest.raises(ImageError, match=str(truncated)):
        dataset[index]


def test_skip_records_logs_and_substitutes_the_next_image(folder_with_corrupt, caplog) -> None:
    root, truncated, garbage = folder_with_corrupt
    dataset = ImageFolderDataset(root, teacher_size=32, on_error="skip", seed=1)
    bad_index = dataset.paths.index(truncated)
    with caplog.at_level(logging.WARNING, logger="gms_models.data.image_folder"):
        items = [dataset[i] for i in range(len(dataset))]
    assert len(items) == len(dataset) == 6
    assert [b.path for b in dataset.skipped] == [truncated, garbage]
    assert all(b.reason for b in dataset.skipped)
    assert str(truncated) in caplog.text and str(garbage) in caplog.text
    # the substitute is the next readable image, cropped with the bad index's crop
    assert items[bad_index].index == bad_index
    dataset[bad_index]
    assert len(dataset.skipped) == 2, "a bad image is recorded once"


def test_validate_up_front(folder_with_corrupt) -> None:
    root, truncated, garbage = folder_with_corrupt
    with pytest.raises(ImageError) as info:
        ImageFolderDataset(root, validate=True)
    assert "2 of 6 images" in str(info.value)
    assert str(truncated) in str(info.value) and str(garbage) in str(info.value)
    dataset = ImageFolderDataset(root, validate=True, on_error="skip", teacher_size=16)
    assert len(dataset) == 4 and truncated not in dataset.paths
    assert {b.path for b in dataset.skipped} == {truncated, garbage}


def test_all_images_unreadable_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="every image"):
        ImageFolderDataset(tmp_path, on_error="skip")[0]
