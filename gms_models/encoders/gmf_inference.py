"""The re-parameterised inference form of a GMF SAM student: same outputs, fewer and larger ops.

:func:`fuse_gmf_encoder` turns a trained :class:`GroupMixFormerSamEncoder` (eval mode) into an
equivalent module for deployment (ONNX export, PyTorch evaluation); training keeps the
release-layout module, whose state dict this form does not share. Per block:

* The position encoding's identity is folded into its depthwise kernel (one conv, no add).
* The qkv projection's output channels are reordered group-major (q0 k0 v0, q1 k1 v1, ...), so
  one split gives each aggregator its q, k and v at once (no stacking along the batch), and the
  non-attention group arrives as (q4, k4, v4), the order its branch concatenates them in.
* The aggregators' four pointwise convs, their BatchNorms (folded) and the identity group's
  BatchNorm become one grouped 1×1 conv and one Hardswish over all attention channels.
* The attention runs channel-first on the aggregated image tensor (``context = softmax(k) vᵀ``,
  ``out = contextᵀ q``), and the relative-position term's three depthwise convs are one 7×7
  conv: no token↔image transposes inside the attention.

What remains are four layout changes per block: to tokens for LayerNorm + qkv, back to image for
the aggregators, to tokens for the projection + MLP, back to image for the next block.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from gms_models.encoders.groupmixformer import (
    NUM_GROUPS,
    GroupMixBlock,
    GroupMixFormerSamEncoder,
    GroupMixStage,
)
from gms_models.fusion import bn_affine

KERNEL = 7
"""Kernel of the merged relative-position conv: its largest window."""


def _padded(kernel: torch.Tensor, size: int = KERNEL) -> torch.Tensor:
    """A (C,1,k,k) depthwise kernel zero-padded (centred) to (C,1,size,size)."""
    pad = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, (pad, pad, pad, pad))


def _depthwise(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Conv2d:
    channels, _, k, _ = weight.shape
    conv = nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels, bias=bias is not None)
    conv.weight.data.copy_(weight)
    if bias is not None:
        _bias(conv).data.copy_(bias)
    return conv


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """The bias of a convolution built with one (``nn.Conv2d.bias`` is typed optional)."""
    assert conv.bias is not None
    return conv.bias


def _channel_layer_norm(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """``norm`` over the channels of an NCHW tensor, without leaving NCHW."""
    mean = x.mean(1, keepdim=True)
    var = (x - mean).pow(2).mean(1, keepdim=True)
    x = (x - mean) / torch.sqrt(var + norm.eps)
    return x * norm.weight[:, None, None] + norm.bias[:, None, None]


class FusedGroupMixBlock(nn.Module):
    """A :class:`GroupMixBlock` on NCHW input, re-parameterised (see module docstring)."""

    def __init__(self, block: GroupMixBlock) -> None:
        super().__init__()
        att, agg = block.att, block.att.aggregator
        dim = att.qkv.in_features
        g = dim // NUM_GROUPS
        self.group_dim, self.num_heads, self.scale = g, att.num_heads, att.scale

        cpe = block.cpe.proj.weight.detach().clone()
        cpe[:, :, 1, 1] += 1.0
        self.cpe = _depthwise(cpe, _bias(block.cpe.proj).detach())
        self.norm1, self.norm2, self.mlp = block.norm1, block.norm2, block.mlp

        # qkv output channel s*dim + j*g + i (s: q/k/v, j: group) -> group-major: [q0 k0 v0 |
        # q1 k1 v1 | ... | q4 k4 v4], so each aggregator kernel size sees one contiguous slice.
        order = [s * dim + j * g + i for j in range(NUM_GROUPS) for s in range(3) for i in range(g)]
        self.qkv = nn.Linear(dim, 3 * dim, bias=att.qkv.bias is not None)
        self.qkv.weight.data.copy_(att.qkv.weight[order])
        if att.qkv.bias is not None:
            self.qkv.bias.data.copy_(att.qkv.bias[order])

        separable = (agg.agg1, agg.agg2, agg.agg3)
        self.agg_dw = nn.ModuleList(
            _depthwise(sep.conv1.weight.detach().repeat(3, 1, 1, 1), None) for sep in separable
        )
        s0, t0 = bn_affine(agg.norm0)
        blocks, shifts = [torch.diag(s0)], [t0]
        for sep, bn in zip(separable, (agg.norm1, agg.norm2, agg.norm3), strict=True):
            scale, shift = bn_affine(bn)
            blocks.append(scale[:, None] * sep.pointwise_conv.weight[:, :, 0, 0])
            shifts.append(shift)
        self.agg_pw = nn.Conv2d(12 * g, 12 * g, 1, groups=12)
        self.agg_pw.weight.data.copy_(
            torch.cat([b for b in blocks for _ in range(3)])[..., None, None]
        )
        _bias(self.agg_pw).data.copy_(torch.cat([t for t in shifts for _ in range(3)]))

        crpe = cast(list[nn.Conv2d], list(att.crpe.conv_list))  # ModuleList items are Modules
        self.crpe = _depthwise(
            torch.cat([_padded(c.weight) for c in crpe]).detach(),
            torch.cat([_bias(c) for c in crpe]).detach(),
        )
        self.branch_conv = agg.agg0.conv
        self.branch_norm = agg.agg0.norm
        self.proj = att.proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g, heads = self.group_dim, self.num_heads
        x = self.cpe(x)
        tokens = x.flatten(2).transpose(1, 2)
        qkv = self.qkv(self.norm1(tokens)).transpose(1, 2).reshape(b, 3 * c, h, w)
        plain, *parts, branch = qkv.split(3 * g, dim=1)
        aggregated = [plain] + [conv(p) for conv, p in zip(self.agg_dw, parts, strict=True)]
        mixed = F.hardswish(self.agg_pw(torch.cat(aggregated, dim=1)))
        q, k, v = mixed.reshape(b, 4, 3, g * h * w).unbind(2)
        q, k, v = (t.reshape(b, heads, 4 * g // heads, h * w) for t in (q, k, v))
        branch = F.hardswish(_channel_layer_norm(self.branch_conv(branch), self.branch_norm))
        context = self.scale * (k.softmax(dim=-1) @ v.transpose(-1, -2))
        attn = (context.transpose(-1, -2) @ q).reshape(b, 4 * g, h, w)
        attn = attn + q.reshape(b, 4 * g, h, w) * self.crpe(v.reshape(b, 4 * g, h, w))
        out = torch.cat([attn, branch], dim=1).flatten(2).transpose(1, 2)
        tokens = tokens + self.proj(out)
        tokens = tokens + self.mlp(self.norm2(tokens))
        return cast(torch.Tensor, tokens.transpose(1, 2).reshape(b, c, h, w))


class FusedGroupMixStage(nn.Module):
    """The blocks of one stage, NCHW in and out."""

    def __init__(self, stage: GroupMixStage) -> None:
        super().__init__()
        blocks = cast(list[GroupMixBlock], list(stage.gma_stage))  # ModuleList items are Modules
        self.blocks = nn.Sequential(*(FusedGroupMixBlock(b) for b in blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.blocks(x))  # nn.Module.__call__ is typed as Any


@torch.no_grad()
def fuse_gmf_encoder(encoder: GroupMixFormerSamEncoder) -> GroupMixFormerSamEncoder:
    """An eval-mode copy of ``encoder`` whose stages are :class:`FusedGroupMixStage`.

    The stem, patch embeddings and neck are kept as they are (ONNX Runtime folds their
    BatchNorms into the convolutions itself). ``encoder`` is left unchanged.
    """
    fused = copy.deepcopy(encoder).eval()
    stages = fused.backbone.groupmixformer_backbone
    for i, stage in enumerate(stages):
        if not isinstance(stage, FusedGroupMixStage):  # fusing a fused encoder changes nothing
            stages[i] = FusedGroupMixStage(cast(GroupMixStage, stage))
    return fused
