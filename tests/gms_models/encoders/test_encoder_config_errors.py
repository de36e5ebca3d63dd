"""Bad names, configs, sizes and checkpoints fail at build time with the value named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import gms_models.encoders.resnet18  # noqa: F401  (registers resnet18)
from gms_models.encoders.groupmixformer import (
    GroupMixFormerConfig,
    GroupMixFormerSamEncoder,
    build_gmf_student,
)
from gms_models.errors import CheckpointError, ConfigError
from gms_models.registry import build_encoder


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="gmf_9999") as err:
        build_encoder("gmf_9999")
    for known in ("gmf_2282", "gmf_3312", "resnet18"):
        assert known in str(err.value)


@pytest.mark.parametrize("dim", [42, 84, 161])
def test_dims_that_do_not_split_into_five_groups(dim: int) -> None:
    with pytest.raises(ConfigError, match=rf"\b{dim}\b.*5 equal"):
        GroupMixFormerConfig(embed_dims=(40, dim, 160, 160))


def test_attention_groups_that_do_not_split_into_heads() -> None:
    # 45 = 5 groups of 9; the 36 attention channels do not split into 8 heads.
    with pytest.raises(ConfigError, match=r"\b45\b.*num_heads=8"):
        build_gmf_student((2, 2, 8, 2), embed_dims=(45, 80, 160, 160))


def test_per_stage_lists_must_have_one_entry_per_stage() -> None:
    with pytest.raises(ConfigError, match=r"strides=\[1, 2\]"):
        GroupMixFormerConfig(strides=(1, 2))


def test_student_whose_last_stage_is_not_at_stride_16() -> None:
    classifier_strides = GroupMixFormerConfig(strides=(1, 2, 2, 2), num_classes=0)
    with pytest.raises(ConfigError, match=r"strides=\[1, 2, 2, 2\].*1/32"):
        GroupMixFormerSamEncoder(classifier_strides)


@pytest.mark.parametrize("name", ["gmf_2282", "gmf_3312", "resnet18"])
@pytest.mark.parametrize("img_size", [1000, 0, 24])
def test_img_size_not_divisible_by_16(name: str, img_size: int) -> None:
    with pytest.raises(ConfigError, match=rf"img_size={img_size}\b"):
        build_encoder(name, img_size=img_size)


@pytest.mark.parametrize("name", ["gmf_2282", "resnet18"])
def test_missing_pretrained_file(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(CheckpointError, match=r"nowhere\.pth"):
        build_encoder(name, img_size=64, pretrained=missing)


def test_gmf_refuses_a_checkpoint_of_another_layout(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(CheckpointError, match=r"resnet\.pth.*missing"):
        build_encoder("gmf_2282", img_size=64, pretrained=path)


def test_gmf_refuses_a_checkpoint_of_other_widths(tmp_path: Path) -> None:
    # GroupMixFormer-M weights cannot initialise a student of other widths.
    wider = build_gmf_student((2, 2, 8, 2), embed_dims=(80, 160, 320, 320)).backbone
    path = tmp_path / "gmf_wide.pth"
    torch.save({"model": wider.state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"gmf_wide\.pth.*mis-shaped"):
        build_encoder("gmf_2282", img_size=64, pretrained=path)


def test_resnet18_refuses_a_checkpoint_of_another_layout(tmp_path: Path) -> None:
    path = tmp_path / "gmf.pth"
    torch.save({"conv_stem.proj1.weight": torch.zeros(20, 3, 3, 3)}, path)
    with pytest.raises(CheckpointError, match=r"gmf\.pth.*timm resnet18 layout"):
        build_encoder("resnet18", img_size=64, pretrained=path)
