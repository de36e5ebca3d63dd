"""The deployed forms' fusions: eval-mode BatchNorm folded into the conv before it, and a conv or
linear layer run with its activation as one oneDNN CPU kernel where nothing is recorded (README,
"Fused CPU kernels")."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

ONEDNN_CONV_MAX_PIXELS = 128 * 128  # largest output without an activation (README: reorders)


def bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as ``x * scale + shift``."""
    assert bn.running_var is not None and bn.running_mean is not None
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One convolution (with bias) computing ``bn(conv(x))`` of the eval-mode pair."""
    scale, shift = bn_affine(bn)
    fused = copy.deepcopy(conv).eval()
    fused.weight.mul_(scale[:, None, None, None])
    bias = shift if conv.bias is None else conv.bias * scale + shift
    fused.bias = nn.Parameter(bias.detach().clone(), requires_grad=conv.weight.requires_grad)
    return fused


def _onednn_attr(act: nn.Module | None) -> tuple[str, str | None] | None:
    """oneDNN's name and algorithm for ``act``, or None when it has no fused form."""
    if act is None:
        return "none", None
    if isinstance(act, nn.GELU) and act.approximate == "none":
        return "gelu", "none"  # oneDNN's exact (erf) GELU
    if isinstance(act, nn.Hardswish):
        return "hardswish", None
    return None


def onednn_applies(x: torch.Tensor, *modules: nn.Module | None) -> bool:
    """Whether fused kernels may replace ``modules`` on ``x``; never past forward hooks (thop's)."""
    hooks = nn.modules.module
    hooked = (
        hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or any(m._forward_hooks or m._forward_pre_hooks for m in modules if m is not None)
    )
    return (
        not hooked
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and torch._C._has_mkldnn
        and bool(torch.backends.mkldnn.enabled)
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
    )


def conv_act(x: torch.Tensor, conv: nn.Module, act: nn.Module | None = None) -> torch.Tensor:
    """``act(conv(x))`` (``conv(x)`` without ``act``), one oneDNN kernel where it pays."""
    if (
        isinstance(conv, nn.Conv2d)
        and _onednn_attr(act) is not None
        and conv.padding_mode == "zeros"
        and not isinstance(conv.padding, str)
        and onednn_applies(x, conv, act)
        and (
            act is not None
            or x.is_contiguous(memory_format=torch.channels_last)  # nothing to reorder
            or x.shape[-2] * x.shape[-1] // (conv.stride[0] * conv.stride[1])
            <= ONEDNN_CONV_MAX_PIXELS
        )
    ):
        return onednn_conv(
            x,
            conv.weight,
            conv.bias,
            act,
            padding=conv.padding,
            stride=conv.stride,
            dilation=conv.dilation,
            groups=conv.groups,
        )
    y = conv(x)
    return cast(torch.Tensor, y if act is None else act(y))


def onednn_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    act: nn.Module | None = None,
    *,
    padding: Sequence[int] | None = None,
    stride: Sequence[int] = (1, 1),
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
) -> torch.Tensor:
    """``act(conv2d(x, weight, bias))`` as one oneDNN kernel; ``padding`` defaults to "same"
    for odd kernels. Callers check :func:`onednn_applies` first."""
    attr = _onednn_attr(act)
    if attr is None:
        raise ValueError(f"oneDNN has no fused form of {act!r}")
    if padding is None:
        padding = [weight.shape[-2] // 2, weight.shape[-1] // 2]
    name, algorithm = attr
    y = torch.ops.mkldnn._convolution_pointwise(
        x, weight, bias, padding, stride, dilation, groups, name, [], algorithm
    )
    return cast(torch.Tensor, y)  # torch.ops calls are typed as Any


def onednn_conv1x1_add(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``residual + conv1x1(x, weight, bias)`` as one oneDNN kernel (a residual branch's last
    projection without a separate pass over the sum). Callers check :func:`onednn_applies`."""
    y = torch.ops.mkldnn._convolution_pointwise.binary(
        x, residual, weight, bias, [0, 0], [1, 1], [1, 1], 1, "add", 1.0, None, [], None
    )
    return cast(torch.Tensor, y)


def linear_act(x: torch.Tensor, fc: nn.Linear, act: nn.Module) -> torch.Tensor:
    """``act(fc(x))``, one oneDNN kernel at any size (its operands need no reorder)."""
    attr = _onednn_attr(act)
    if attr is None or not onednn_applies(x, fc, act):
        return cast(torch.Tensor, act(fc(x)))
    name, algorithm = attr
    flat = x.reshape(-1, x.shape[-1])
    out = torch.ops.mkldnn._linear_pointwise(flat, fc.weight, fc.bias, name, [], algorithm)
    return cast(torch.Tensor, out.view(*x.shape[:-1], out.shape[-1]))
