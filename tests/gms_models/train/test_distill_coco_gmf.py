"""Distillation with the real pieces: the MobileSAM teacher, gmf_2282 and COCO images."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch

from gms_models.checkpoint import save_checkpoint
from gms_models.errors import CheckpointError, DataError
from gms_models.train import DistillConfig, distill, load_student


def _coco_subset(coco_mini: Path, folder: Path, count: int) -> Path:
    """The first ``count`` val2017 images, linked into ``folder``."""
    folder.mkdir()
    for image in sorted((coco_mini / "val2017").glob("*.jpg"))[:count]:
        (folder / image.name).symlink_to(image)
    return folder


@pytest.mark.parametrize(
    "size",
    [64, pytest.param(256, marks=pytest.mark.slow)],  # 256: about 60 s on a busy 2-core CPU
)
def test_gmf_2282_learns_the_teacher_features_on_coco_images(
    coco_mini: Path, teacher_ckpt: Path, tmp_path: Path, size: int
) -> None:
    config = DistillConfig(
        arch="gmf_2282",
        images=_coco_subset(coco_mini, tmp_path / "images", 8),
        teacher=teacher_ckpt,
        teacher_backend="torch",
        img_size=size,
        epochs=3,
        batch_size=4,
        lr=1e-3,
        num_workers=0,
        out_dir=tmp_path / "run",
    )
    (result,) = distill([config], progress=False)
    first, *_, last = result.loss_history
    assert len(result.loss_history) == 3 and result.images_seen == 24
    assert last < 0.6 * first, result.loss_history

    student = load_student(result.checkpoint, expected_arch="gmf_2282")
    assert student(torch.zeros(1, 3, size, size)).shape == (1, 256, size // 16, size // 16)
    assert [p.name for p in result.feature_pictures][-1] == "epoch_003.png"


def test_empty_image_folder_is_a_clear_error(teacher_ckpt: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    config = DistillConfig(
        arch="gmf_2282",
        images=tmp_path / "empty",
        teacher=teacher_ckpt,
        img_size=64,
        out_dir=tmp_path / "run",
    )
    with pytest.raises(DataError, match=rf"no images .* under {tmp_path / 'empty'}.*empty"):
        distill([config], progress=False)


def test_resuming_a_run_folder_of_another_arch_names_both(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "run"
    save_checkpoint(
        out_dir / "last.pt",
        {"format": "gms-distill-state/1", "arch": "resnet18", "img_size": 32, "state_dict": {}},
    )
    config = standins.tiny_config(tiny_images, out_dir, resume=True)
    with pytest.raises(CheckpointError, match=r"'resnet18' student.*trains 'tiny_standin'"):
        distill([config], teacher=standins.tiny_teacher(), progress=False)
