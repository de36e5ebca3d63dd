"""Every student maps (B,3,S,S) to (B,256,S/16,S/16), in eval and in training."""

from __future__ import annotations

import pytest
import torch

from gms_models.encoders import groupmixformer, resnet18  # noqa: F401  (registers them)
from gms_models.registry import build_encoder

NAMES = ["gmf_33124", "gmf_3312", "gmf_3344", "gmf_2264", "gmf_2282", "resnet18"]
QUICK_AT_1024 = {"gmf_2282", "resnet18"}  # one per family; the rest run with -m slow


def _features(name: str, img_size: int, batch: int) -> torch.Tensor:
    model = build_encoder(name, img_size=img_size).eval()
    with torch.no_grad():
        return model(torch.randn(batch, 3, img_size, img_size))


@pytest.mark.parametrize("name", NAMES)
def test_features_at_256(name: str) -> None:
    feats = _features(name, 256, batch=2)
    assert feats.shape == (2, 256, 16, 16)
    assert torch.isfinite(feats).all()


@pytest.mark.parametrize(
    "name",
    [n if n in QUICK_AT_1024 else pytest.param(n, marks=pytest.mark.slow) for n in NAMES],
)
def test_features_at_1024(name: str) -> None:
    assert _features(name, 1024, batch=1).shape == (1, 256, 64, 64)


@pytest.mark.parametrize("name", ["gmf_2282", "resnet18"])
def test_training_step_reaches_every_parameter(name: str) -> None:
    overrides = {"drop_path_rate": 0.1} if name.startswith("gmf") else {}
    model = build_encoder(name, img_size=64, **overrides).train()
    feats = model(torch.randn(2, 3, 64, 64))
    assert feats.shape == (2, 256, 4, 4)
    feats.square().mean().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
