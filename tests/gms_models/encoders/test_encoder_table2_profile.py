"""Params and thop-style MACs of the students at 1024 reproduce the paper's Table 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import gms_models.encoders.groupmixformer as gmf
import gms_models.encoders.resnet18  # noqa: F401  (registers resnet18)
from gms_models.profiling import ModelProfile, profile_model
from gms_models.registry import build_encoder

# name: (Params (M), Flops (M)) as printed in Table 2 of the paper.
TABLE2 = {
    "gmf_33124": (5.63, 32435.40),
    "gmf_3312": (4.31, 26808.09),
    "gmf_3344": (3.03, 21407.53),
    "gmf_2264": (3.58, 21128.09),
    "gmf_2282": (3.58, 21128.09),
    "resnet18": (14.78, 45623.54),
}
GMF_DEPTHS = {
    "gmf_33124": [3, 3, 12, 4],
    "gmf_3312": [3, 3, 12],
    "gmf_3344": [3, 3, 4, 4],
    "gmf_2264": [2, 2, 6, 4],
    "gmf_2282": [2, 2, 8, 2],
}


def _profile_on_meta(name: str) -> ModelProfile:
    with torch.device("meta"):
        model = build_encoder(name)
    return profile_model(model, img_size=1024)


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_params_and_macs_match_table2(name: str) -> None:
    params_m, macs_m = TABLE2[name]
    prof = _profile_on_meta(name)
    assert round(prof.params_thop / 1e6, 2) == params_m
    assert round(prof.macs / 1e6, 2) == macs_m


def test_resnet18_counts_match_nanosam_exactly() -> None:
    prof = _profile_on_meta("resnet18")
    assert prof.params_thop == 14_782_528
    # thop skips the learned (1,256,64,64) position map; the true total includes it.
    assert prof.params_true == 14_782_528 + 256 * 64 * 64
    assert round(prof.params_true / 1e6, 2) == 15.83


class _Backbone(nn.Module):
    """The student without its neck, for profiling."""

    def __init__(self, student: gmf.GroupMixFormerSamEncoder) -> None:
        super().__init__()
        self.backbone = student.backbone

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone.forward_features(x)


@pytest.mark.parametrize("name", sorted(GMF_DEPTHS))
def test_gmf_backbone_is_the_release_backbone_plus_a_240_to_256_neck(
    name: str, gmf_ref: Path
) -> None:
    counts = json.loads((gmf_ref / "param_counts.json").read_text())["configs"]
    expected = {tuple(c["serial_depths"]): c["params_backbone_without_head"] for c in counts}
    with torch.device("meta"):
        model = build_encoder(name)
    assert isinstance(model, gmf.GroupMixFormerSamEncoder)
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert backbone == expected[tuple(GMF_DEPTHS[name])]
    assert sum(p.numel() for p in model.neck.parameters()) == 240 * 256 + 256
    neck_macs = profile_model(model, 1024).macs - profile_model(_Backbone(model), 1024).macs
    assert neck_macs == 61_440 * 64 * 64


def test_counting_on_a_real_cpu_model_equals_counting_on_meta() -> None:
    real = profile_model(build_encoder("gmf_2282"), img_size=1024)
    assert real == _profile_on_meta("gmf_2282")
