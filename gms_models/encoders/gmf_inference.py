"""The re-parameterised inference form of a GMF student (README, "GMF inference form"): same
outputs, fewer and larger ops, not the release's state dict. Each block runs channel-first; in an
ONNX export (``is_in_onnx_export()``) its channel means and 1×1 convs are matrix products."""

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
from gms_models.fusion import bn_affine, conv_act

KERNEL = 7  # the merged relative-position conv's: its largest window


def _depthwise(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Conv2d:
    channels, _, k, _ = weight.shape
    conv = nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels, bias=bias is not None)
    conv.weight.data.copy_(weight)
    if bias is not None:
        _bias(conv).data.copy_(bias)
    return conv


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    assert conv.bias is not None
    return conv.bias


def _pointwise(weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1)
    conv.weight.data.copy_(weight[..., None, None])
    _bias(conv).data.copy_(bias)
    return conv


def _norm_linear(norm: nn.LayerNorm, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """``linear(norm(x))`` as a 1×1 conv on the standardised ``x``: the norm's affine folded in."""
    return _pointwise(weight * norm.weight, bias + weight @ norm.bias)


def _channel_mean(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(B,C,H,W) -> (B,1,H,W). Exported as a (1,C) @ (C,H·W) product: ONNX Runtime reduces the
    channel axis of NCHW with ReduceMean at ~1 GB/s, 15x slower than this MatMul. ``channels``
    is a Python int, so the averaging row is a constant of the graph, not traced shape ops."""
    if torch.onnx.is_in_onnx_export():
        b, _, h, w = x.shape
        average = torch.full((1, channels), 1.0 / channels, dtype=x.dtype)
        return (average @ x.reshape(b, channels, h * w)).reshape(b, 1, h, w)
    return x.mean(1, keepdim=True)


def _standardise(x: torch.Tensor, eps: float, channels: int) -> torch.Tensor:
    """LayerNorm without its affine over the channels of an NCHW tensor, without leaving NCHW."""
    centred = x - _channel_mean(x, channels)
    return centred / torch.sqrt(_channel_mean(centred.pow(2), channels) + eps)


def _conv1x1_act(x: torch.Tensor, conv: nn.Conv2d, act: nn.Module | None = None) -> torch.Tensor:
    """``act(conv(x))`` for a 1×1 conv; exported as ``W @ x`` over the pixels, which ONNX Runtime
    runs as one SGEMM without the NCHWc reorders its 1×1 Conv needs here (README)."""
    if not torch.onnx.is_in_onnx_export():
        return conv_act(x, conv, act)
    b, _, h, w = x.shape
    cout, cin = conv.out_channels, conv.in_channels  # Python ints: a constant weight matrix
    y = conv.weight.reshape(cout, cin) @ x.reshape(b, cin, h * w) + _bias(conv)[:, None]
    y = y.reshape(b, cout, h, w)
    return y if act is None else cast(torch.Tensor, act(y))  # Module calls are Any


class FusedGroupMixBlock(nn.Module):
    """A :class:`GroupMixBlock` on NCHW input, re-parameterised (see module docstring)."""

    def __init__(self, block: GroupMixBlock) -> None:
        super().__init__()
        att, agg = block.att, block.att.aggregator
        dim = att.qkv.in_features
        g = dim // NUM_GROUPS
        self.group_dim, self.num_heads, self.scale = g, att.num_heads, att.scale
        self.eps1, self.eps2 = block.norm1.eps, block.norm2.eps

        cpe = block.cpe.proj.weight.detach().clone()
        cpe[:, :, 1, 1] += 1.0
        self.cpe = _depthwise(cpe, _bias(block.cpe.proj).detach())

        # qkv output channel s*dim + j*g + i (s: q/k/v, j: group) -> group-major: [q0 k0 v0 |
        # q1 k1 v1 | ... | q4 k4 v4], so each aggregator kernel size sees one contiguous slice.
        order = [s * dim + j * g + i for j in range(NUM_GROUPS) for s in range(3) for i in range(g)]
        qkv_bias = att.qkv.bias if att.qkv.bias is not None else torch.zeros(3 * dim)
        self.qkv = _norm_linear(block.norm1, att.qkv.weight[order], qkv_bias[order])

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
            torch.cat(
                [F.pad(c.weight, [(KERNEL - c.kernel_size[0]) // 2] * 4) for c in crpe]
            ).detach(),
            torch.cat([_bias(c) for c in crpe]).detach(),
        )
        self.branch_conv = agg.agg0.conv
        self.branch_norm = agg.agg0.norm
        self.proj = _pointwise(att.proj.weight, att.proj.bias)
        fc1, fc2 = cast(nn.Linear, block.mlp.fc1), cast(nn.Linear, block.mlp.fc2)
        self.fc1 = _norm_linear(block.norm2, fc1.weight, fc1.bias)
        self.fc2 = _pointwise(fc2.weight, fc2.bias)
        self.agg_act, self.mlp_act = nn.Hardswish(), nn.GELU()

    def mix(self, qkv: torch.Tensor) -> torch.Tensor:
        """Group-mix attention from the group-major qkv image (B,3C,H,W): (B,C,H,W) before proj."""
        b, _, h, w = qkv.shape
        g, heads = self.group_dim, self.num_heads
        plain, *parts, branch = qkv.split(3 * g, dim=1)
        aggregated = [plain] + [conv(p) for conv, p in zip(self.agg_dw, parts, strict=True)]
        mixed = conv_act(torch.cat(aggregated, dim=1), self.agg_pw, self.agg_act)
        q, k, v = mixed.reshape(b, 4, 3, g * h * w).unbind(2)
        q, k, v = (t.reshape(b, heads, 4 * g // heads, h * w) for t in (q, k, v))
        norm = self.branch_norm  # a LayerNorm over the channels, without leaving NCHW
        branch = _standardise(self.branch_conv(branch), norm.eps, g)
        branch = F.hardswish(branch * norm.weight[:, None, None] + norm.bias[:, None, None])
        context = self.scale * (k.softmax(dim=-1) @ v.transpose(-1, -2))
        attn = (context.transpose(-1, -2) @ q).reshape(b, 4 * g, h, w)
        attn = attn + q.reshape(b, 4 * g, h, w) * self.crpe(v.reshape(b, 4 * g, h, w))
        return torch.cat([attn, branch], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cpe(x)
        qkv = _conv1x1_act(_standardise(x, self.eps1, self.qkv.in_channels), self.qkv)
        x = x + _conv1x1_act(self.mix(qkv), self.proj)
        hidden = _conv1x1_act(
            _standardise(x, self.eps2, self.fc1.in_channels), self.fc1, self.mlp_act
        )
        return x + _conv1x1_act(hidden, self.fc2)


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
    """An eval-mode copy with fused stages; stem, patch embeddings and neck stay (ONNX Runtime
    folds their BatchNorms itself)."""
    fused = copy.deepcopy(encoder).eval()
    stages = fused.backbone.groupmixformer_backbone
    for i, stage in enumerate(stages):
        if not isinstance(stage, FusedGroupMixStage):  # fusing a fused encoder changes nothing
            stages[i] = FusedGroupMixStage(cast(GroupMixStage, stage))
    return fused
