"""MobileSAM's TinyViT (ViT-T), state-dict compatible with ``mobile_sam.pt``; any S divisible by 16.
Features stay contiguous NCHW between blocks, as the official code ends up: float32 results stay
within its thread-count noise. Conv and BatchNorm stay separate (counts follow the profiled net).
The deployed form runs the backbone channels-last (README, "Channels-last teacher")."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from timm.models.tiny_vit import NormMlp
from torch import nn

from gms_models.errors import ConfigError
from gms_models.fusion import conv_act, fold_conv_bn, linear_act
from gms_models.sam.common import LayerNorm2d, init_linear_and_norm


@dataclass(frozen=True)
class TinyViTConfig:
    """Architecture of a TinyViT encoder; the defaults are MobileSAM's ViT-T at 1024×1024."""

    img_size: int = 1024
    in_chans: int = 3
    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    out_chans: int = 256
    with_head: bool = False  # unused by SAM, but in the public checkpoint: for a strict load
    num_classes: int = 1000

    def __post_init__(self) -> None:
        n = len(self.embed_dims)
        if n < 2 or not (len(self.depths) == len(self.num_heads) == len(self.window_sizes) == n):
            raise ConfigError(
                "TinyViT needs at least 2 stages and equally long embed_dims, depths, num_heads "
                f"and window_sizes; got {self.embed_dims}, {self.depths}, {self.num_heads}, "
                f"{self.window_sizes}"
            )
        for dim, heads in zip(self.embed_dims[1:], self.num_heads[1:], strict=True):
            if dim % heads:
                raise ConfigError(f"TinyViT embed dim {dim} is not divisible by {heads} heads")
        if self.img_size <= 0 or self.img_size % self.output_stride:
            raise ConfigError(
                f"TinyViT img_size must be a positive multiple of {self.output_stride}, "
                f"got {self.img_size}"
            )

    @property
    def output_stride(self) -> int:
        """Input pixels per output pixel: 4 (patch embed) × 2 per merge, the last one stride 1."""
        return int(4 * 2 ** (len(self.embed_dims) - 2))  # int ** int is typed as Any


class Conv2dBN(nn.Sequential):
    """Bias-free convolution followed by BatchNorm."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bn_weight_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.c = nn.Conv2d(
            in_chans, out_chans, kernel_size, stride, padding, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_chans)
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.zeros_(self.bn.bias)


class PatchEmbed(nn.Module):
    """Two stride-2 3×3 convolutions: (B,C,S,S) -> (B,dim,S/4,S/4)."""

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2dBN(in_chans, embed_dim // 2, 3, 2, 1),
            nn.GELU(),
            Conv2dBN(embed_dim // 2, embed_dim, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.seq[2](conv_act(x, self.seq[0], self.seq[1])))


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expand, 3×3 depthwise, 1×1 project, residual, GELU."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = Conv2dBN(dim, hidden)
        self.act1 = nn.GELU()
        self.conv2 = Conv2dBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3 = Conv2dBN(hidden, dim, bn_weight_init=0.0)
        self.act3 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = conv_act(conv_act(x, self.conv1, self.act1), self.conv2, self.act2)
        y = conv_act(y, self.conv3)
        y += x  # in place: the BatchNorm output is not needed for its backward
        return cast(torch.Tensor, self.act3(y))


class PatchMerging(nn.Module):
    """1×1 conv to ``out_dim``, 3×3 depthwise conv with ``stride``, 1×1 conv (NCHW in and out)."""

    def __init__(self, dim: int, out_dim: int, stride: int) -> None:
        super().__init__()
        self.act = nn.GELU()
        self.conv1 = Conv2dBN(dim, out_dim)
        self.conv2 = Conv2dBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = Conv2dBN(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv_act(conv_act(x, self.conv1, self.act), self.conv2, self.act)
        return conv_act(x, self.conv3)


def relative_offset_index(window_size: int) -> torch.Tensor:
    """(N,N) bias-table index per (query, key) of an N = ws² window: the official code numbers
    offsets (|dy|, |dx|) by first appearance, and query (0,0) meets them all in order dy·ws + dx."""
    coords = torch.arange(window_size)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = (ys[:, None] - ys[None, :]).abs()
    dx = (xs[:, None] - xs[None, :]).abs()
    return dy * window_size + dx


class Attention(nn.Module):
    """Windowed multi-head self-attention with a learned bias per head and relative offset."""

    attention_bias_idxs: torch.Tensor  # a buffer

    def __init__(self, dim: int, num_heads: int, window_size: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = dim // num_heads
        self.scale = self.key_dim**-0.5
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window_size * window_size))
        self.register_buffer(
            "attention_bias_idxs", relative_offset_index(window_size), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) tokens of B windows of N = ws² pixels."""
        b, n, c = x.shape
        qkv = self.qkv(self.norm(x)).view(b, n, self.num_heads, 3 * self.key_dim)
        q, k, v = (t.transpose(1, 2) for t in qkv.split(self.key_dim, dim=3))
        # Same as attention_biases[:, idxs] but ~9x faster than advanced indexing on CPU.
        bias = self.attention_biases.index_select(1, self.attention_bias_idxs.flatten())
        # softmax(q·kᵀ·scale + bias)·v in one fused kernel, the bias as the additive mask; the
        # CPU flash kernel takes only a 4-D mask, a 3-D one falls back to the slower math path.
        bias = bias.view(1, self.num_heads, n, n)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        return cast(torch.Tensor, self.proj(out.transpose(1, 2).reshape(b, n, c)))


class TinyViTBlock(nn.Module):
    """Window attention, depthwise local conv, MLP; residual around attention and MLP."""

    def __init__(
        self, dim: int, num_heads: int, window_size: int, mlp_ratio: float, local_conv_size: int
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.attn = Attention(dim, num_heads, window_size)
        self.mlp = NormMlp(dim, int(dim * mlp_ratio))  # keys norm, fc1, fc2
        self.local_conv = Conv2dBN(dim, dim, local_conv_size, 1, local_conv_size // 2, groups=dim)

    def _window_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Attention in windows of (B,H,W,C), zero-padded bottom/right (padding attends, as in the
        official code, and is cropped after)."""
        b, h, w, c = x.shape
        ws = self.window_size
        pad_b, pad_r = -h % ws, -w % ws
        if pad_b or pad_r:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        ph, pw = h + pad_b, w + pad_r
        nh, nw = ph // ws, pw // ws
        windows = x.reshape(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
        out: torch.Tensor = self.attn(windows)
        out = out.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
        return out[:, :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B,C,H,W), NCHW or channels-last; returns the same shape and layout."""
        x = x + self._window_attention(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = self.local_conv(x)
        mlp = self.mlp
        hidden = linear_act(mlp.norm(x.permute(0, 2, 3, 1)), mlp.fc1, mlp.act)
        return x + cast(torch.Tensor, mlp.fc2(hidden)).permute(0, 3, 1, 2)


class Stage(nn.Module):
    """One stage: its blocks (MBConv in the first, TinyViT blocks after), then patch merging."""

    def __init__(self, blocks: Iterator[nn.Module], downsample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class TinyViT(nn.Module):
    """TinyViT backbone + SAM neck: SAM-normalised (B,3,S,S) -> (B,out_chans,S/16,S/16)."""

    def __init__(self, config: TinyViTConfig | None = None) -> None:
        super().__init__()
        cfg = config or TinyViTConfig()
        self.config = cfg
        self.img_size = cfg.img_size
        dims, n = cfg.embed_dims, len(cfg.embed_dims)
        self.patch_embed = PatchEmbed(cfg.in_chans, dims[0])
        self.layers = nn.ModuleList()
        for i in range(n):
            downsample = None
            if i < n - 1:  # the merge into the last stage has stride 1: the output stays at S/16
                downsample = PatchMerging(dims[i], dims[i + 1], stride=1 if i == n - 2 else 2)
            blocks: Iterator[nn.Module] = (
                MBConv(dims[0], cfg.mbconv_expand_ratio)
                if i == 0
                else TinyViTBlock(
                    dims[i],
                    cfg.num_heads[i],
                    cfg.window_sizes[i],
                    cfg.mlp_ratio,
                    cfg.local_conv_size,
                )
                for _ in range(cfg.depths[i])
            )
            self.layers.append(Stage(blocks, downsample))
        if cfg.with_head:
            self.norm_head = nn.LayerNorm(dims[-1])
            self.head = nn.Linear(dims[-1], cfg.num_classes)
        self.apply(init_linear_and_norm)
        self.memory_format = torch.contiguous_format  # of the backbone's features
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], cfg.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(cfg.out_chans),
            nn.Conv2d(cfg.out_chans, cfg.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(cfg.out_chans),
        )

    def fuse_for_inference(self) -> TinyViT:
        """An eval-mode copy with every ``Conv2dBN`` folded into one convolution, its backbone
        channels-last (deployment)."""
        fused = copy.deepcopy(self).eval()
        fused.memory_format = torch.channels_last
        pairs = [(name, m) for name, m in fused.named_modules() if isinstance(m, Conv2dBN)]
        for name, module in pairs:
            fused.set_submodule(name, fold_conv_bn(module.c, module.bn))
        return fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x.contiguous(memory_format=self.memory_format))
        for layer in self.layers:
            x = layer(x)
        return cast(torch.Tensor, self.neck(x.contiguous()))  # the neck's LayerNorm2d: NCHW
