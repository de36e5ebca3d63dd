"""TinyViT (ViT-T) encoder: checkpoint layout, attention-bias freshness, image sizes, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gms_models.errors import ConfigError
from gms_models.sam import Sam, build_sam_vit_t
from gms_models.sam.tiny_vit import Conv2dBN, TinyViT, TinyViTConfig, relative_offset_index
from tests.tolerances import FUSED_FORM_ATOL


def test_state_dict_layout_equals_public_checkpoint(mobile_sam_ref: Path) -> None:
    expected = json.loads((mobile_sam_ref / "state_dict_keys.json").read_text())
    layout = [
        [k, list(v.shape), str(v.dtype).removeprefix("torch.")]
        for k, v in build_sam_vit_t().state_dict().items()
    ]
    assert layout == expected  # same keys, shapes, dtypes and order (439 entries)


def test_strict_load_takes_every_tensor(teacher_ckpt: Path) -> None:
    state = torch.load(teacher_ckpt, weights_only=True)
    loaded = build_sam_vit_t(checkpoint=teacher_ckpt).state_dict()
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_relative_offset_index_numbers_offsets_in_first_appearance_order() -> None:
    """The official table: offsets (|dy|,|dx|) numbered as first met scanning pairs row-major."""
    ws = 3
    points = [(y, x) for y in range(ws) for x in range(ws)]
    numbering: dict[tuple[int, int], int] = {}
    expected = []
    for y1, x1 in points:
        for y2, x2 in points:
            offset = (abs(y1 - y2), abs(x1 - x2))
            numbering.setdefault(offset, len(numbering))
            expected.append(numbering[offset])
    assert relative_offset_index(ws).flatten().tolist() == expected


def _randomised_attention_biases(model: TinyViT) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    gen = torch.Generator().manual_seed(1)
    for key in state:
        if key.endswith("attention_biases"):
            state[key] = torch.randn(state[key].shape, generator=gen)
    return state


@torch.no_grad()
def test_weights_loaded_after_eval_are_used() -> None:
    """The official encoder keeps the biases cached at .eval() time; ours never goes stale."""
    torch.manual_seed(0)
    cfg = TinyViTConfig(img_size=64)
    model = TinyViT(cfg).eval()
    x = torch.randn(1, 3, 64, 64)
    before = model(x)
    state = _randomised_attention_biases(model)
    model.load_state_dict(state)  # after eval(), as the official builder does
    after = model(x)
    fresh = TinyViT(cfg)
    fresh.load_state_dict(state)
    assert torch.equal(after, fresh.eval()(x))
    assert not torch.allclose(after, before)


def test_attention_biases_receive_gradients_in_training() -> None:
    model = TinyViT(TinyViTConfig(img_size=64)).train()
    model(torch.randn(2, 3, 64, 64)).square().mean().backward()
    grads = [p.grad for n, p in model.named_parameters() if n.endswith("attention_biases")]
    assert len(grads) == 10 and all(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("img_size", [64, 256, 512])
def test_output_is_256_channels_at_one_sixteenth(img_size: int) -> None:
    model = TinyViT(TinyViTConfig(img_size=img_size)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, img_size, img_size))
    assert out.shape == (1, 256, img_size // 16, img_size // 16)


def test_head_is_built_only_on_request() -> None:
    without = TinyViT(TinyViTConfig(img_size=64)).state_dict()
    with_head = TinyViT(TinyViTConfig(img_size=64, with_head=True)).state_dict()
    extra = sorted(set(with_head) - set(without))
    assert extra == ["head.bias", "head.weight", "norm_head.bias", "norm_head.weight"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"img_size": 1000}, "multiple of 16"),
        ({"img_size": 0}, "multiple of 16"),
        ({"depths": (2, 2, 6)}, "equally long"),
        ({"num_heads": (2, 4, 3, 10)}, "not divisible"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TinyViTConfig(**kwargs)  # type: ignore[arg-type]


@torch.inference_mode()
def test_deployed_form_folds_every_batchnorm_and_keeps_the_outputs(bn_calibrated_sam: Sam) -> None:
    """BN-calibrated statistics make the fold a real change of every kernel, not a near no-op."""
    encoder = bn_calibrated_sam.image_encoder
    assert isinstance(encoder, TinyViT)
    fused = encoder.fuse_for_inference()
    assert not any(isinstance(m, (Conv2dBN, nn.BatchNorm2d)) for m in fused.modules())
    assert any(isinstance(m, Conv2dBN) for m in encoder.modules())  # the original is untouched
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    expected = encoder(x)
    assert expected.abs().max() > 0.1
    assert fused.memory_format == torch.channels_last  # the backbone; features come out NCHW
    assert encoder.memory_format == torch.contiguous_format
    out = fused(x)
    assert out.is_contiguous()
    torch.testing.assert_close(out, expected, rtol=0, atol=FUSED_FORM_ATOL)
