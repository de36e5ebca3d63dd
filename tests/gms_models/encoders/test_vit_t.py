"""The registered ``vit_t`` encoder: thop counts of the paper, pretrained loading, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import gms_models.encoders.vit_t  # noqa: F401  (registers "vit_t")
from gms_models.errors import CheckpointError, ConfigError
from gms_models.profiling import profile_model
from gms_models.registry import build_encoder
from gms_models.sam import build_sam_vit_t


def test_profile_matches_the_paper() -> None:
    """Table 2, ViT-T: 5,743,892 parameters and 36,742.785M MACs (thop) at 1024."""
    encoder = build_encoder("vit_t")
    prof = profile_model(encoder, img_size=1024)
    assert prof.macs == 36_742_785_024
    assert prof.params_true == 5_743_892
    # thop only visits leaf modules: the 10 attention-bias tables belong to the (non-leaf)
    # attention modules, so the thop-convention count leaves out their 7,252 values.
    biases = sum(p.numel() for n, p in encoder.named_parameters() if "attention_biases" in n)
    assert biases == 7_252
    assert prof.params_thop == 5_743_892 - biases
    assert not any(n.startswith(("head.", "norm_head.")) for n, _ in encoder.named_parameters())


def test_pretrained_takes_the_image_encoder_of_a_sam_checkpoint(teacher_ckpt: Path) -> None:
    encoder = build_encoder("vit_t", img_size=256, pretrained=teacher_ckpt)
    assert not encoder.training
    teacher = build_sam_vit_t(checkpoint=teacher_ckpt, img_size=256).image_encoder
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(encoder(x), teacher(x))


def test_with_head_matches_the_checkpoint_one_for_one(teacher_ckpt: Path, tmp_path: Path) -> None:
    state = torch.load(teacher_ckpt, weights_only=True)
    encoder_state = {
        k.removeprefix("image_encoder."): v for k, v in state.items() if "image_encoder." in k
    }
    encoder = build_encoder("vit_t", with_head=True, pretrained=teacher_ckpt)
    assert encoder.state_dict().keys() == encoder_state.keys()
    # A bare encoder state dict (no "image_encoder." prefix) loads too.
    bare = tmp_path / "encoder.pt"
    torch.save(encoder_state, bare)
    reloaded = build_encoder("vit_t", img_size=256, pretrained=bare)
    assert torch.equal(reloaded.state_dict()["neck.0.weight"], encoder_state["neck.0.weight"])


def test_wrong_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"image_encoder.conv.weight": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError, match=r"missing keys: patch_embed\.seq\.0\.c\.weight"):
        build_encoder("vit_t", img_size=256, pretrained=path)


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown vit_t option"):
        build_encoder("vit_t", depth=3)


def test_overrides_reach_the_architecture() -> None:
    encoder = build_encoder("vit_t", img_size=128, depths=(1, 1, 2, 1))
    assert len(encoder.layers[2].blocks) == 2
    with torch.no_grad():
        assert encoder(torch.zeros(1, 3, 128, 128)).shape == (1, 256, 8, 8)
