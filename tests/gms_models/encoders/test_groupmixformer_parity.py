"""GroupMixFormer against the official release: state-dict layout, parameter counts, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gms_models.encoders.groupmixformer import (
    GroupMixFormer,
    GroupMixFormerConfig,
    groupmixformer_m,
)
from tests.tolerances import GMF_LOGITS_ATOL, GMF_STAGE_ATOL


@pytest.fixture(scope="module")
def official_state(gmf_ref: Path) -> dict[str, torch.Tensor]:
    return torch.load(gmf_ref / "gmf_m_random_seed0.pt", weights_only=True)


def test_state_dict_has_the_release_keys_shapes_and_order(gmf_ref: Path) -> None:
    expected = json.loads((gmf_ref / "state_dict_keys.json").read_text())
    with torch.device("meta"):
        model = groupmixformer_m()
    got = [
        [k, list(v.shape), str(v.dtype).removeprefix("torch.")]
        for k, v in model.state_dict().items()
    ]
    assert got == expected


def test_reproduces_official_logits_and_stage_outputs(
    gmf_ref: Path, official_state: dict[str, torch.Tensor]
) -> None:
    model = groupmixformer_m(num_classes=1000)
    model.load_state_dict(official_state, strict=True)
    model.eval()
    x = torch.from_numpy(np.load(gmf_ref / "input.npy"))
    with torch.no_grad():
        stages = model.forward_features(x)
        logits = model(x)
    assert len(stages) == 4
    for i, stage in enumerate(stages, start=1):
        ref = np.load(gmf_ref / f"stage{i}.npy")
        assert stage.shape == ref.shape
        np.testing.assert_allclose(stage.numpy(), ref, rtol=0, atol=GMF_STAGE_ATOL[i])
    np.testing.assert_allclose(
        logits.numpy(), np.load(gmf_ref / "logits.npy"), rtol=0, atol=GMF_LOGITS_ATOL
    )


def _config_of(entry: dict, num_classes: int) -> GroupMixFormerConfig:
    n = entry["num_stages"]
    return GroupMixFormerConfig(
        embed_dims=tuple(entry["embedding_dims"][:n]),
        depths=tuple(entry["serial_depths"]),
        mlp_ratios=(4.0,) * n,
        strides=(1, 2, 2, 2)[:n],
        num_classes=num_classes,
    )


def test_parameter_counts_match_the_release_for_every_depth_config(gmf_ref: Path) -> None:
    configs = json.loads((gmf_ref / "param_counts.json").read_text())["configs"]
    assert len(configs) == 5
    for entry in configs:
        with torch.device("meta"):
            backbone = GroupMixFormer(_config_of(entry, num_classes=0))
            classifier = GroupMixFormer(_config_of(entry, num_classes=1000))
        count = sum(p.numel() for p in backbone.parameters())
        assert count == entry["params_backbone_without_head"], entry["serial_depths"]
        count = sum(p.numel() for p in classifier.parameters())
        assert count == entry["params_with_head"], entry["serial_depths"]


def test_two_class_classifier_gives_two_logits_and_trains() -> None:
    model = groupmixformer_m(num_classes=2, drop_path_rate=0.1)
    model.train()
    logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 2)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
