"""The re-parameterised inference form of a GMF student (README, "GMF inference form"): same
outputs, fewer and larger ops, not the release's state dict. A block has two lowerings of one
computation: channel-first (an ONNX export, where its channel means are matrix products and its
1×1 convs stay convolutions, which ONNX Runtime chains in its blocked NCHWc layout; CUDA;
anything recorded), and channels-last on oneDNN where :func:`onednn_applies`
(PyTorch on the CPU: every convolution one oneDNN kernel on NHWC, nothing reordered)."""

from __future__ import annotations

import copy
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from gms_models.encoders.groupmixformer import (
    NUM_GROUPS,
    ConvStem,
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


class FusedGroupMixBlock(nn.Module):
    """A :class:`GroupMixBlock` on NCHW input, re-parameterised (see module docstring)."""

    cl_qkv_weight: torch.Tensor
    cl_qkv_bias: torch.Tensor
    cl_branch_weight: torch.Tensor
    cl_branch_bias: torch.Tensor
    cl_agg_dw: torch.Tensor
    cl_agg_pw: torch.Tensor
    cl_agg_pw_bias: torch.Tensor
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

        # qkv output channel s*dim + j*g + i (s: q/k/v, j: group) -> group-major: [q0 k0 v0 |
        # q1 k1 v1 | ... | q4 k4 v4]: one depthwise kernel per slice of 3g, the branch's last.
        order = [s * dim + j * g + i for j in range(NUM_GROUPS) for s in range(3) for i in range(g)]
        qkv_bias = att.qkv.bias if att.qkv.bias is not None else torch.zeros(3 * dim)
        self.qkv = _norm_linear(block.norm1, att.qkv.weight[order], qkv_bias[order])

        # The plain group (identity), the three aggregators (the release runs each on q, k and v
        # alike) and the branch's 3×3 as one depthwise 7×7: ONNX Runtime runs it in NCHWc on the
        # qkv conv's output without a Split, three reorder pairs and a Concat (README).
        separable = (agg.agg1, agg.agg2, agg.agg3)
        identity = torch.zeros(3 * g, 1, KERNEL, KERNEL)
        identity[:, :, KERNEL // 2, KERNEL // 2] = 1.0
        kernels = [identity] + [
            _in_window(sep.conv1.weight.repeat(3, 1, 1, 1)) for sep in separable
        ]
        kernels.append(_in_window(agg.agg0.conv.conv1.weight))
        self.mix_dw = _depthwise(torch.cat(kernels).detach(), None)
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
            torch.cat([_in_window(c.weight) for c in crpe]).detach(),
            torch.cat([_bias(c) for c in crpe]).detach(),
        )
        self.branch_conv = agg.agg0.conv
        self.branch_norm = agg.agg0.norm
        self.proj = _pointwise(att.proj.weight, att.proj.bias)
        fc1, fc2 = cast(nn.Linear, block.mlp.fc1), cast(nn.Linear, block.mlp.fc2)
        self.fc1 = _norm_linear(block.norm2, fc1.weight, fc1.bias)
        self.fc2 = _pointwise(fc2.weight, fc2.bias)
        self.agg_act, self.mlp_act = nn.Hardswish(), nn.GELU()
        self._init_channels_last()

    def _init_channels_last(self) -> None:
        """Weights of the channels-last lowering, derived from the ones above. An NHWC channel
        slice is strided, so q, k and v each get their four attention groups side by side
        ([q0 q1 q2 q3 | k0 .. | v0 ..]) for ``mix_dw``'s first twelve slices; the non-attention
        group's q, k, v come from a product of their own and keep their 3×3 depthwise kernel."""
        g = self.group_dim
        s_major = [j * 3 * g + s * g + i for s in range(3) for j in range(4) for i in range(g)]
        weight, bias = self.qkv.weight.detach(), _bias(self.qkv).detach()
        self.register_buffer("cl_qkv_weight", weight[s_major].contiguous(), persistent=False)
        self.register_buffer("cl_qkv_bias", bias[s_major].contiguous(), persistent=False)
        self.register_buffer("cl_branch_weight", weight[12 * g :].contiguous(), persistent=False)
        self.register_buffer("cl_branch_bias", bias[12 * g :].contiguous(), persistent=False)
        dw = self.mix_dw.weight.detach()[s_major].contiguous()
        self.register_buffer("cl_agg_dw", dw, persistent=False)
        groups = [j * 3 + s for s in range(3) for j in range(4)]  # agg_pw's groups, s-major
        pw_weight = self.agg_pw.weight.detach().reshape(12, g, g, 1, 1)[groups]
        self.register_buffer("cl_agg_pw", pw_weight.reshape(12 * g, g, 1, 1), persistent=False)
        pw_bias = _bias(self.agg_pw).detach().reshape(12, g)[groups]
        self.register_buffer("cl_agg_pw_bias", pw_bias.reshape(-1), persistent=False)
        head = 4 * g // self.num_heads
        head_of = torch.arange(4 * g) // head
        heads = (head_of[:, None] == head_of[None, :]).float() * self.scale
        self.register_buffer("cl_heads", heads, persistent=False)  # per-head context, scaled

    def mix(self, qkv: torch.Tensor) -> torch.Tensor:
        """Group-mix attention from the group-major qkv image (B,3C,H,W): (B,C,H,W) before proj."""
        b, _, h, w = qkv.shape
        g, heads = self.group_dim, self.num_heads
        aggregated, branch = self.mix_dw(qkv).split([12 * g, 3 * g], dim=1)
        mixed = conv_act(aggregated, self.agg_pw, self.agg_act)
        q, k, v = mixed.reshape(b, 4, 3, g * h * w).unbind(2)
        q, k, v = (t.reshape(b, heads, 4 * g // heads, h * w) for t in (q, k, v))
        norm = self.branch_norm  # a LayerNorm over the channels, without leaving NCHW
        branch = _standardise(self.branch_conv.pointwise_conv(branch), norm.eps, g)
        branch = F.hardswish(branch * norm.weight[:, None, None] + norm.bias[:, None, None])
        context = self.scale * (k.softmax(dim=-1) @ v.transpose(-1, -2))
        attn = (context.transpose(-1, -2) @ q).reshape(b, 4 * g, h, w)
        attn = attn + q.reshape(b, 4 * g, h, w) * self.crpe(v.reshape(b, 4 * g, h, w))
        return torch.cat([attn, branch], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if onednn_applies(x, *self.modules()):
            return self._forward_channels_last(x.contiguous(memory_format=torch.channels_last))
        x = self.cpe(x)
        qkv = conv_act(_standardise(x, self.eps1, self.qkv.in_channels), self.qkv)
        x = x + conv_act(self.mix(qkv), self.proj)
        hidden = conv_act(_standardise(x, self.eps2, self.fc1.in_channels), self.fc1, self.mlp_act)
        return x + conv_act(hidden, self.fc2)

    def _forward_channels_last(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` on a channels-last ``x`` with oneDNN kernels; channels-last out."""
        b, c, h, w = x.shape
        g, n = self.group_dim, h * w
        x = onednn_conv(x, self.cpe.weight, self.cpe.bias, groups=c)
        standard = _standardise_channels_last(x, self.eps1)
        mixed = onednn_conv(standard, self.cl_qkv_weight, self.cl_qkv_bias)
        mixed = onednn_conv(mixed, self.cl_agg_dw, None, groups=12 * g)
        mixed = onednn_conv(mixed, self.cl_agg_pw, self.cl_agg_pw_bias, self.agg_act, groups=12)
        q, k, v = mixed.permute(0, 2, 3, 1).reshape(b, n, 12 * g).split(4 * g, dim=-1)
        v_image = v.reshape(b, h, w, 4 * g).permute(0, 3, 1, 2)
        v_image = v_image.contiguous(memory_format=torch.channels_last)
        position = onednn_conv(v_image, self.crpe.weight, self.crpe.bias, groups=4 * g)
        position = position.permute(0, 2, 3, 1).reshape(b, n, 4 * g)
        attn = torch.addcmul(self._attend(q, k.softmax(dim=1), v), q, position)
        branch = onednn_conv(standard, self.cl_branch_weight, self.cl_branch_bias)
        conv = self.branch_conv
        branch = onednn_conv(branch, conv.conv1.weight, None, groups=3 * g)
        branch = onednn_conv(branch, conv.pointwise_conv.weight, None).permute(0, 2, 3, 1)
        norm = self.branch_norm
        branch = F.hardswish(_standardise_tokens(branch, norm.eps) * norm.weight + norm.bias)
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
