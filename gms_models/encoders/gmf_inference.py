"""The re-parameterised inference form of a GMF student (README, "GMF inference form"): same
outputs, fewer and larger ops, not the release's state dict. A block has two lowerings of one
computation: channel-first (an ONNX export, where its channel means are matrix products and its
1×1 convs stay convolutions, which ONNX Runtime chains in its blocked NCHWc layout; CUDA;
anything recorded), and channels-last on oneDNN where :func:`onednn_applies`
(PyTorch on the CPU: every convolution one oneDNN kernel on NHWC, nothing reordered)."""

from __future__ import annotations

import copy
import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from gms_models.encoders.groupmixformer import (
    NUM_GROUPS,
    ConvStem,
    GroupAggregator,
    GroupMixBlock,
    GroupMixFormerSamEncoder,
    GroupMixStage,
    PatchEmbed,
)
from gms_models.fusion import (
    bn_affine,
    conv_act,
    fold_conv_bn,
    onednn_applies,
    onednn_conv,
    onednn_conv1x1_add,
)

KERNEL = 7  # the merged depthwise convs' window: the largest of crpe's and the aggregators'
NCHWC_BLOCK = 16  # ONNX Runtime's NCHWc channel block on AVX-512 (a multiple of AVX2's 8)


def _depthwise(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Conv2d:
    channels, _, k, _ = weight.shape
    conv = nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels, bias=bias is not None)
    conv.weight.data.copy_(weight)
    if bias is not None:
        _bias(conv).data.copy_(bias)
    return conv


def _in_window(weight: torch.Tensor) -> torch.Tensor:
    """A depthwise k×k kernel zero-padded to ``KERNEL``×``KERNEL``: the same output."""
    return F.pad(weight, [(KERNEL - weight.shape[-1]) // 2] * 4)


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
    return centred / torch.sqrt(_channel_mean(centred * centred, channels) + eps)


class AggregatedProjection(nn.Module):
    """One of q, k and v of the four attention groups from the standardised block input: the 1×1
    projection (norm1's affine folded in), then ``aggregation``, the depthwise and pointwise
    convs all three share. Its own convs per q, k and v keep ONNX Runtime in NCHWc from the
    projection to the hardswish (one qkv conv needs a Split, which NCHWc cannot hold), and give
    the channels-last lowering contiguous NHWC tensors instead of strided slices (README)."""

    def __init__(self, projection: nn.Conv2d, aggregation: tuple[nn.Conv2d, nn.Conv2d]) -> None:
        super().__init__()
        self.projection = projection
        self.depthwise, self.pointwise = aggregation
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv_act(conv_act(x, self.projection), self.depthwise)
        return conv_act(x, self.pointwise, self.act)


def _aggregation(agg: GroupAggregator) -> tuple[nn.Conv2d, nn.Conv2d]:
    """The plain group (identity) and the three aggregators of the attention groups as one
    depthwise 7×7 and one block-diagonal pointwise conv with the BatchNorms folded in."""
    g = agg.group_dim
    separable = (agg.agg1, agg.agg2, agg.agg3)
    identity = torch.zeros(g, 1, KERNEL, KERNEL)
    identity[:, :, KERNEL // 2, KERNEL // 2] = 1.0
    kernels = [identity] + [_in_window(sep.conv1.weight) for sep in separable]
    s0, t0 = bn_affine(agg.norm0)
    blocks, shifts = [torch.diag(s0)], [t0]
    for sep, bn in zip(separable, (agg.norm1, agg.norm2, agg.norm3), strict=True):
        scale, shift = bn_affine(bn)
        blocks.append(scale[:, None] * sep.pointwise_conv.weight[:, :, 0, 0])
        shifts.append(shift)
    return _depthwise(torch.cat(kernels).detach(), None), _block_diagonal(blocks, torch.cat(shifts))


def _block_diagonal(blocks: list[torch.Tensor], bias: torch.Tensor) -> nn.Conv2d:
    """The square blocks as one grouped 1×1 conv, neighbouring blocks merged (zeros off the
    diagonal) until a group is ``NCHWC_BLOCK`` channels wide: ONNX Runtime runs a grouped conv
    in NCHWc only when every group fills whole blocks, and an NCHW one at a third of the speed."""
    n, g = len(blocks), blocks[0].shape[0]
    merged = math.gcd(n, max(1, NCHWC_BLOCK // g))  # blocks per group
    weight = torch.zeros(n * g, merged * g)
    for i, block in enumerate(blocks):
        weight[i * g : (i + 1) * g, i % merged * g : (i % merged + 1) * g] = block
    conv = nn.Conv2d(n * g, n * g, 1, groups=n // merged)
    conv.weight.data.copy_(weight[..., None, None])
    _bias(conv).data.copy_(bias)
    return conv


class FusedGroupMixBlock(nn.Module):
    """A :class:`GroupMixBlock` on NCHW input, re-parameterised (see module docstring)."""

    cl_heads: torch.Tensor

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

        # qkv output channel s*dim + j*g + i (s: q/k/v, j: group); the release runs the
        # aggregators on q, k and v alike, so they share one aggregation.
        qkv_bias = att.qkv.bias if att.qkv.bias is not None else torch.zeros(3 * dim)
        aggregation = _aggregation(agg)

        def projection(rows: list[int]) -> nn.Conv2d:
            return _norm_linear(block.norm1, att.qkv.weight[rows], qkv_bias[rows])

        self.q, self.k, self.v = (
            AggregatedProjection(projection(list(range(s * dim, s * dim + 4 * g))), aggregation)
            for s in range(3)
        )
        self.branch_qkv = projection([s * dim + 4 * g + i for s in range(3) for i in range(g)])
        crpe = cast(list[nn.Conv2d], list(att.crpe.conv_list))  # ModuleList items are Modules
        self.crpe = _depthwise(
            torch.cat([_in_window(c.weight) for c in crpe]).detach(),
            torch.cat([_bias(c) for c in crpe]).detach(),
        )
        self.branch_conv = agg.agg0.conv
        self.branch_norm = agg.agg0.norm
        self.proj = _pointwise(att.proj.weight, att.proj.bias)
        fc1, fc2 = cast(nn.Linear, block.mlp.fc1), cast(nn.Linear, block.mlp.fc2)
        self.fc1 = _norm_linear(block.norm2, fc1.weight, fc1.bias)
        self.fc2 = _pointwise(fc2.weight, fc2.bias)
        self.mlp_act = nn.GELU()
        head = 4 * g // self.num_heads
        head_of = torch.arange(4 * g) // head
        heads = (head_of[:, None] == head_of[None, :]).float() * self.scale
        self.register_buffer("cl_heads", heads, persistent=False)  # per-head context, scaled

    def mix(self, standard: torch.Tensor) -> torch.Tensor:
        """Group-mix attention from the standardised input (B,C,H,W): (B,C,H,W) before proj."""
        b, _, h, w = standard.shape
        g, heads = self.group_dim, self.num_heads
        q, k, v = (p(standard) for p in (self.q, self.k, self.v))
        position = q * self.crpe(v)
        q, k, v = (t.reshape(b, heads, 4 * g // heads, h * w) for t in (q, k, v))
        context = self.scale * (k.softmax(dim=-1) @ v.transpose(-1, -2))
        attn = (context.transpose(-1, -2) @ q).reshape(b, 4 * g, h, w) + position
        norm = self.branch_norm  # a LayerNorm over the channels, without leaving NCHW
        branch = _standardise(self._branch(standard), norm.eps, g)
        branch = F.hardswish(branch * norm.weight[:, None, None] + norm.bias[:, None, None])
        return torch.cat([attn, branch], dim=1)

    def _branch(self, standard: torch.Tensor) -> torch.Tensor:
        """The non-attention group's convs: (B,C,H,W) -> (B,g,H,W), before its LayerNorm."""
        conv = self.branch_conv
        branch = conv_act(conv_act(standard, self.branch_qkv), conv.conv1)
        return conv_act(branch, conv.pointwise_conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if onednn_applies(x, *self.modules()):
            return self._forward_channels_last(x.contiguous(memory_format=torch.channels_last))
        dim = self.fc1.in_channels  # a Python int: the channel means' weights stay constants
        x = self.cpe(x)
        x = x + conv_act(self.mix(_standardise(x, self.eps1, dim)), self.proj)
        hidden = conv_act(_standardise(x, self.eps2, dim), self.fc1, self.mlp_act)
        return x + conv_act(hidden, self.fc2)

    def _forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on a channels-last ``x`` with oneDNN kernels; channels-last out."""
        b, _, h, w = x.shape
        g, n = self.group_dim, h * w
        x = conv_act(x, self.cpe)
        standard = _standardise_channels_last(x, self.eps1)
        q, k, v = (p(standard) for p in (self.q, self.k, self.v))
        position = conv_act(v, self.crpe)
        q, k, v, position = (
            t.permute(0, 2, 3, 1).reshape(b, n, 4 * g) for t in (q, k, v, position)
        )
        attn = torch.addcmul(self._attend(q, k.softmax(dim=1), v), q, position)
        norm = self.branch_norm
        branch = _standardise_tokens(self._branch(standard).permute(0, 2, 3, 1), norm.eps)
        branch = F.hardswish(branch * norm.weight + norm.bias)
        mixed = torch.cat([attn.reshape(b, h, w, 4 * g), branch], dim=-1).permute(0, 3, 1, 2)
        x = onednn_conv1x1_add(mixed, x, self.proj.weight, self.proj.bias)
        standard = _standardise_channels_last(x, self.eps2)
        hidden = onednn_conv(standard, self.fc1.weight, self.fc1.bias, self.mlp_act)
        return onednn_conv1x1_add(hidden, x, self.fc2.weight, self.fc2.bias)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Each head's ``q @ (kᵀ @ v) * scale`` on (B,N,4g) tokens. Heads under 16 channels wide
        take one block-diagonal product of all heads (8× the MACs of per-head products, still
        faster at 4 and 8 channels); wider ones take per-head products (README)."""
        b, n, c = q.shape
        head = c // self.num_heads
        if head < 16:
            return q @ ((k.transpose(1, 2) @ v) * self.cl_heads)
        split = (b, n, self.num_heads, head)
        context = torch.einsum("bnhd,bnhe->bhde", k.reshape(split), v.reshape(split))
        attn = torch.einsum("bnhd,bhde->bnhe", q.reshape(split), context * self.scale)
        return attn.reshape(b, n, c)


def _standardise_tokens(tokens: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm without its affine over the last axis of (..., C). Its means are products with
    a constant column: at 8–160 channels PyTorch's ``layer_norm`` kernel takes 1.7–2.5× as long
    (README, "GMF inference form")."""
    average = torch.full((tokens.shape[-1], 1), 1.0 / tokens.shape[-1], dtype=tokens.dtype)
    centred = tokens - tokens @ average
    return centred * torch.rsqrt((centred * centred) @ average + eps)


def _standardise_channels_last(x: torch.Tensor, eps: float) -> torch.Tensor:
    """:func:`_standardise` of a channels-last NCHW tensor, over its contiguous axis."""
    return _standardise_tokens(x.permute(0, 2, 3, 1), eps).permute(0, 3, 1, 2)


class FusedGroupMixStage(nn.Module):
    """The blocks of one stage, NCHW in and out."""

    def __init__(self, stage: GroupMixStage) -> None:
        super().__init__()
        blocks = cast(list[GroupMixBlock], list(stage.gma_stage))  # ModuleList items are Modules
        self.blocks = nn.Sequential(*(FusedGroupMixBlock(b) for b in blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.blocks(x))  # nn.Module.__call__ is typed as Any


class FusedConvStem(nn.Module):
    """:class:`ConvStem` with its BatchNorms folded; where oneDNN applies it takes the image
    channels-last, so every later convolution works on NHWC."""

    def __init__(self, stem: ConvStem) -> None:
        super().__init__()
        self.proj1 = fold_conv_bn(stem.proj1, stem.norm1)
        self.proj2 = fold_conv_bn(stem.proj2, stem.norm2)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if onednn_applies(x, *self.modules()):
            x = x.contiguous(memory_format=torch.channels_last)
        return conv_act(conv_act(x, self.proj1, self.act), self.proj2, self.act)


class FusedPatchEmbed(nn.Module):
    """:class:`PatchEmbed` with its BatchNorm folded into the pointwise conv."""

    def __init__(self, embed: PatchEmbed) -> None:
        super().__init__()
        self.depthwise = embed.proj.conv1
        self.pointwise = fold_conv_bn(embed.proj.pointwise_conv, embed.norm)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_act(conv_act(x, self.depthwise), self.pointwise, self.act)


@torch.no_grad()
def fuse_gmf_encoder(encoder: GroupMixFormerSamEncoder) -> GroupMixFormerSamEncoder:
    """An eval-mode copy with fused stem, patch embeddings and stages (the neck is one conv)."""
    fused = copy.deepcopy(encoder).eval()
    if isinstance(fused.backbone.conv_stem, FusedConvStem):  # fusing a fused encoder: a copy
        return fused
    backbone = fused.backbone
    backbone.set_submodule("conv_stem", FusedConvStem(backbone.conv_stem))
    embeds, stages = backbone.patch_embed_layers, backbone.groupmixformer_backbone
    for i, (embed, stage) in enumerate(zip(embeds, stages, strict=True)):
        embeds[i] = FusedPatchEmbed(cast(PatchEmbed, embed))
        stages[i] = FusedGroupMixStage(cast(GroupMixStage, stage))
    return fused
