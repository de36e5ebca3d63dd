"""Initialising students from local ImageNet-layout checkpoints (GroupMixFormer release, timm)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import gms_models.encoders.resnet18  # noqa: F401  (registers resnet18)
from gms_models.encoders.groupmixformer import (
    GroupMixFormerSamEncoder,
    groupmixformer_m,
    load_release_weights,
)
from gms_models.registry import build_encoder

CLASSIFIER_KEYS = {f"norm4.{s}" for s in ("weight", "bias", "running_mean", "running_var")} | {
    "norm4.num_batches_tracked",
    "head.weight",
    "head.bias",
}


@pytest.fixture(scope="module")
def release_file(gmf_ref: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference GroupMixFormer-M state dict wrapped as the release saves it."""
    state = torch.load(gmf_ref / "gmf_m_random_seed0.pt", weights_only=True)
    path = tmp_path_factory.mktemp("release") / "groupmixformer_miny.pth"
    torch.save({"model": state}, path)
    return path


def _release_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def _assert_backbone_equals(model: GroupMixFormerSamEncoder, state: dict) -> None:
    own = model.backbone.state_dict()
    assert own
    for key, value in own.items():
        assert torch.equal(value, state[key]), key


def test_full_depth_student_takes_every_backbone_tensor(release_file: Path) -> None:
    model = build_encoder("gmf_33124", img_size=64)
    report = load_release_weights(model.backbone, release_file)
    assert set(report.skipped) == CLASSIFIER_KEYS
    assert report.loaded == len(model.backbone.state_dict())
    _assert_backbone_equals(model, _release_state(release_file))


def test_builder_loads_the_release_into_a_shallower_student(release_file: Path) -> None:
    model = build_encoder("gmf_2282", img_size=64, pretrained=release_file)
    _assert_backbone_equals(model, _release_state(release_file))
    report = load_release_weights(model.backbone, release_file)
    skipped = set(report.skipped)
    assert skipped >= CLASSIFIER_KEYS
    assert "groupmixformer_backbone.0.gma_stage.2.cpe.proj.weight" in skipped  # 3rd of 3 blocks
    assert "groupmixformer_backbone.2.gma_stage.7.mlp.fc2.bias" not in skipped  # 8th of 12


def test_three_stage_student_skips_the_fourth_stage(release_file: Path) -> None:
    model = build_encoder("gmf_3312", img_size=64)
    skipped = load_release_weights(model.backbone, release_file).skipped
    assert "patch_embed_layers.3.proj.conv1.weight" in skipped
    assert any(k.startswith("groupmixformer_backbone.3.") for k in skipped)
    _assert_backbone_equals(model, _release_state(release_file))


def test_two_class_classifier_keeps_its_own_head(release_file: Path) -> None:
    model = groupmixformer_m(num_classes=2)
    head_before = model.head.weight.detach().clone()
    report = load_release_weights(model, release_file)
    assert set(report.skipped) == CLASSIFIER_KEYS
    assert torch.equal(model.head.weight, head_before)
    assert torch.equal(
        model.conv_stem.proj1.weight, _release_state(release_file)["conv_stem.proj1.weight"]
    )


def test_resnet18_loads_a_timm_checkpoint_without_its_classifier(tmp_path: Path) -> None:
    import timm

    timm_state = timm.create_model("resnet18", pretrained=False).state_dict()
    path = tmp_path / "resnet18_timm.pth"
    torch.save(timm_state, path)
    model = build_encoder("resnet18", img_size=64, pretrained=path)
    own = model.backbone.state_dict()
    assert set(timm_state) - set(own) == {"fc.weight", "fc.bias"}
    for key, value in own.items():
        assert torch.equal(value, timm_state[key]), key
