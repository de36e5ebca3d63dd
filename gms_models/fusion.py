"""Folding eval-mode BatchNorm into the convolution before it, for the deployed forms."""

from __future__ import annotations

import copy

import torch
from torch import nn


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
