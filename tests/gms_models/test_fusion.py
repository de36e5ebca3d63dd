from __future__ import annotations

import pytest
import torch
from torch import nn

from gms_models.fusion import conv_act, linear_act, onednn_applies, onednn_conv1x1_add
from tests.tolerances import FUSED_FORM_ATOL

needs_onednn = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN"
)


def _seeded(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for p in module.parameters():
        nn.init.normal_(p, std=0.2)
    return module.eval()


@needs_onednn
@pytest.mark.parametrize("act", [None, nn.GELU(), nn.Hardswish()], ids=["none", "gelu", "hswish"])
@pytest.mark.parametrize(
    ("channels", "size", "kernel", "stride", "groups"),
    [(32, 32, 1, 1, 1), (24, 40, 3, 2, 24), (12, 160, 1, 1, 4), (8, 256, 3, 1, 1)],
)
def test_conv_act_matches_the_unfused_layers(
    act: nn.Module | None, channels: int, size: int, kernel: int, stride: int, groups: int
) -> None:
    conv = _seeded(nn.Conv2d(channels, 2 * channels, kernel, stride, kernel // 2, groups=groups))
    x = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(1))
    expected = conv(x) if act is None else act(conv(x))  # grad enabled: the unfused layers
    assert expected.abs().max() > 0.5
    for layout in (torch.contiguous_format, torch.channels_last):
        with torch.inference_mode():
            fused = conv_act(x.contiguous(memory_format=layout), conv, act)
        torch.testing.assert_close(fused, expected.detach(), rtol=0, atol=FUSED_FORM_ATOL)


@needs_onednn
def test_conv1x1_add_matches_conv_plus_residual() -> None:
    conv = _seeded(nn.Conv2d(48, 24, 1))
    x = torch.randn(2, 48, 20, 24, generator=torch.Generator().manual_seed(1))
    residual = torch.randn(2, 24, 20, 24, generator=torch.Generator().manual_seed(2))
    expected = (residual + conv(x)).detach()
    for layout in (torch.contiguous_format, torch.channels_last):
        x_, r_ = (t.contiguous(memory_format=layout) for t in (x, residual))
        with torch.inference_mode():
            fused = onednn_conv1x1_add(x_, r_, conv.weight, conv.bias)
        torch.testing.assert_close(fused, expected, rtol=0, atol=FUSED_FORM_ATOL)
        assert torch.equal(r_, residual)  # the residual is read, not written


@needs_onednn
def test_linear_act_matches_the_unfused_layers() -> None:
    fc = _seeded(nn.Linear(40, 160))
    x = torch.randn(2, 7, 9, 40, generator=torch.Generator().manual_seed(1)).permute(0, 2, 1, 3)
    expected = nn.functional.gelu(fc(x))
    with torch.inference_mode():
        fused = linear_act(x, fc, nn.GELU())
    assert fused.shape == (2, 9, 7, 160)
    torch.testing.assert_close(fused, expected.detach(), rtol=0, atol=FUSED_FORM_ATOL)


@needs_onednn
def test_fused_kernels_run_only_where_nothing_is_recorded() -> None:
    conv = nn.Conv2d(4, 4, 1)
    x = torch.randn(1, 4, 8, 8)
    with torch.inference_mode():
        assert onednn_applies(x, conv)
        assert not onednn_applies(x.double(), conv)
        handle = conv.register_forward_hook(lambda *_: None)  # a MAC counter's, say
        assert not onednn_applies(x, conv)
        handle.remove()
    assert not onednn_applies(x, conv)  # gradients are recorded
