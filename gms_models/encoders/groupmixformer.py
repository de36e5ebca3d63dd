"""GroupMixFormer (arXiv 2311.15157) with the release's state-dict keys (plain ``BatchNorm2d`` for
its ``SyncBatchNorm``), and Table 2's GMF students (README, "GMF neck": the pool is functional
because thop counts no functional op)."""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from timm.layers.drop import DropPath
from timm.layers.mlp import Mlp
from torch import nn

from gms_models.checkpoint import load_pretrained_backbone
from gms_models.errors import ConfigError
from gms_models.fusion import conv_act
from gms_models.geometry import EMBED_DIM, PATCH_STRIDE, check_img_size
from gms_models.registry import register_encoder
from gms_models.sam.common import init_linear_and_norm

NUM_GROUPS = 5
"""Channel groups of Group-Mix Attention: four aggregated attention groups + one non-attention."""

GMF_M_DIMS = (40, 80, 160, 160)


@dataclass(frozen=True)
class GroupMixFormerConfig:
    """Shape of a GroupMixFormer. ``strides[i]``: stage ``i``'s patch embedding (after the stem's
    4); ``crpe_windows``: (kernel, heads) pairs over ``num_heads``; ``num_classes=0``: no head."""

    embed_dims: tuple[int, ...] = GMF_M_DIMS
    depths: tuple[int, ...] = (3, 3, 12, 4)
    mlp_ratios: tuple[float, ...] = (4.0, 4.0, 4.0, 4.0)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    num_heads: int = 8
    crpe_windows: tuple[tuple[int, int], ...] = ((3, 2), (5, 3), (7, 3))
    qkv_bias: bool = True
    drop_path_rate: float = 0.0
    num_classes: int = 1000
    in_chans: int = 3

    def __post_init__(self) -> None:
        n = len(self.depths)
        if n == 0:
            raise ConfigError("GroupMixFormer depths must name at least one stage, got ()")
        for name in ("embed_dims", "mlp_ratios", "strides"):
            value = getattr(self, name)
            if len(value) != n:
                raise ConfigError(
                    f"GroupMixFormer {name}={list(value)} has {len(value)} entries but "
                    f"depths={list(self.depths)} has {n} stages"
                )
        for name, values in (("depths", self.depths), ("strides", self.strides)):
            if any(v < 1 for v in values):
                raise ConfigError(f"GroupMixFormer {name} must be >= 1, got {list(values)}")
        heads_in_windows = sum(h for _, h in self.crpe_windows)
        if heads_in_windows != self.num_heads:
            raise ConfigError(
                f"crpe_windows={list(self.crpe_windows)} assign {heads_in_windows} heads but "
                f"num_heads={self.num_heads}"
            )
        for dim in self.embed_dims:
            if dim % NUM_GROUPS or dim < NUM_GROUPS:
                raise ConfigError(
                    f"GroupMixFormer embed dim {dim} does not split into {NUM_GROUPS} equal "
                    f"Group-Mix Attention groups (embed_dims={list(self.embed_dims)})"
                )
            if (dim // NUM_GROUPS * (NUM_GROUPS - 1)) % self.num_heads:
                raise ConfigError(
                    f"GroupMixFormer embed dim {dim}: its {NUM_GROUPS - 1} attention groups "
                    f"({dim // NUM_GROUPS * (NUM_GROUPS - 1)} channels) do not split into "
                    f"num_heads={self.num_heads} heads"
                )
        if self.num_classes < 0:
            raise ConfigError(f"num_classes must be >= 0, got {self.num_classes}")


class SeparableConv2d(nn.Module):
    """Depthwise k×k conv (``conv1``) then pointwise 1×1 conv, both without bias."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, in_ch, kernel, stride, kernel // 2, groups=in_ch, bias=False)
        self.pointwise_conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.pointwise_conv(self.conv1(x)))  # Module calls are Any


class ConvStem(nn.Module):
    """Two stride-2 3×3 convs (to dim/2, then dim), each with BatchNorm and Hardswish."""

    def __init__(self, in_chans: int, dim: int) -> None:
        super().__init__()
        self.proj1 = nn.Conv2d(in_chans, dim // 2, 3, 2, 1)
        self.norm1 = nn.BatchNorm2d(dim // 2)
        self.act1 = nn.Hardswish()
        self.proj2 = nn.Conv2d(dim // 2, dim, 3, 2, 1)
        self.norm2 = nn.BatchNorm2d(dim)
        self.act2 = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(self.proj1(x)))
        return cast(torch.Tensor, self.act2(self.norm2(self.proj2(x))))


class PatchEmbed(nn.Module):
    """Separable 3×3 conv with the stage's stride, BatchNorm, Hardswish (NCHW in and out)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.proj = SeparableConv2d(in_ch, out_ch, 3, stride)
        self.norm = nn.BatchNorm2d(out_ch)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(torch.Tensor, self.act(self.norm(self.proj(x))))


class NonAttentionBranch(nn.Module):
    """Group 4 of q, k and v together (3·g channels) -> separable 3×3 -> g, LayerNorm, Hardswish."""

    def __init__(self, group_dim: int) -> None:
        super().__init__()
        self.conv = SeparableConv2d(3 * group_dim, group_dim, 3)
        self.norm = nn.LayerNorm(group_dim)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3g,H,W) -> tokens (B,H·W,g)."""
        x = self.conv(x).flatten(2).transpose(1, 2)
        return cast(torch.Tensor, self.act(self.norm(x)))


class GroupAggregator(nn.Module):
    """Per-group token aggregation of q, k and v (stacked along the batch as 3B)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        g = dim // NUM_GROUPS
        self.group_dim = g
        self.norm0 = nn.BatchNorm2d(g)
        self.act0 = nn.Hardswish()
        self.agg1 = SeparableConv2d(g, g, 3)
        self.norm1 = nn.BatchNorm2d(g)
        self.act1 = nn.Hardswish()
        self.agg2 = SeparableConv2d(g, g, 5)
        self.norm2 = nn.BatchNorm2d(g)
        self.act2 = nn.Hardswish()
        self.agg3 = SeparableConv2d(g, g, 7)
        self.norm3 = nn.BatchNorm2d(g)
        self.act3 = nn.Hardswish()
        self.agg0 = NonAttentionBranch(g)

    def forward(self, qkv: torch.Tensor, num_heads: int) -> tuple[torch.Tensor, torch.Tensor]:
        """qkv (3B,C,H,W) -> (q,k,v stacked as (3,B,heads,H·W,head_ch), branch tokens (B,N,g))."""
        n3, _, h, w = qkv.shape
        b, g = n3 // 3, self.group_dim
        groups = qkv.split(g, dim=1)
        branch = groups[4].reshape(3, b, g, h, w).transpose(0, 1).reshape(b, 3 * g, h, w)
        mixed = torch.cat(
            [
                self.act0(self.norm0(groups[0])),
                self.act1(self.norm1(self.agg1(groups[1]))),
                self.act2(self.norm2(self.agg2(groups[2]))),
                self.act3(self.norm3(self.agg3(groups[3]))),
            ],
            dim=1,
        )
        head_ch = 4 * g // num_heads
        mixed = mixed.reshape(3, b, num_heads, head_ch, h * w).transpose(-1, -2)
        return mixed, self.agg0(branch)


class ConvRelPosEnc(nn.Module):
    """``q * dwconv(v)``: heads split into windows, each group of heads convolved depthwise."""

    def __init__(self, head_ch: int, windows: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self.channel_splits = [heads * head_ch for _, heads in windows]
        self.conv_list = nn.ModuleList(
            nn.Conv2d(ch, ch, k, padding=k // 2, groups=ch)
            for (k, _), ch in zip(windows, self.channel_splits, strict=True)
        )

    def forward(self, q: torch.Tensor, v: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, heads, n, ch = v.shape
        v_img = v.transpose(-1, -2).reshape(b, heads * ch, *size)
        parts = v_img.split(self.channel_splits, dim=1)
        conv_v = torch.cat([conv(p) for conv, p in zip(self.conv_list, parts, strict=True)], 1)
        return q * conv_v.reshape(b, heads, ch, n).transpose(-1, -2)


class GroupMixAttention(nn.Module):
    """Group-Mix Attention over tokens (B,N,C) of an H×W grid."""

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool, windows: Sequence[tuple[int, int]]
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        # The release scales by the head width of the full dim, not of the attention groups.
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.aggregator = GroupAggregator(dim)
        attn_dim = dim // NUM_GROUPS * (NUM_GROUPS - 1)
        self.crpe = ConvRelPosEnc(attn_dim // num_heads, windows)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, c).permute(2, 0, 3, 1).reshape(3 * b, c, *size)
        mixed, branch = self.aggregator(qkv, self.num_heads)
        q, k, v = mixed.unbind(0)
        context = k.softmax(dim=2).transpose(-1, -2) @ v
        attn = self.scale * (q @ context) + self.crpe(q, v, size)
        attn = attn.transpose(1, 2).reshape(b, n, -1)
        return cast(torch.Tensor, self.proj(torch.cat([attn, branch], dim=-1)))


class ConvPosEnc(nn.Module):
    """Depthwise 3×3 conv added to its input (tokens in, tokens out)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, _, c = x.shape
        img = x.transpose(1, 2).reshape(b, c, *size)
        return (cast(torch.Tensor, self.proj(img)) + img).flatten(2).transpose(1, 2)


class GroupMixBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        mlp_ratio: float,
        drop_path: float,
        cfg: GroupMixFormerConfig,
    ) -> None:
        super().__init__()
        self.cpe = ConvPosEnc(dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.att = GroupMixAttention(dim, cfg.num_heads, cfg.qkv_bias, cfg.crpe_windows)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))  # keys fc1, fc2 as released

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = self.cpe(x, size)
        x = x + self.drop_path(self.att(self.norm1(x), size))
        return x + cast(torch.Tensor, self.drop_path(self.mlp(self.norm2(x))))


class GroupMixStage(nn.Module):
    """The blocks of one stage on NCHW input (the patch embedding lives outside, as released)."""

    def __init__(
        self, dim: int, mlp_ratio: float, drop_paths: Sequence[float], cfg: GroupMixFormerConfig
    ) -> None:
        super().__init__()
        self.gma_stage = nn.ModuleList(GroupMixBlock(dim, mlp_ratio, p, cfg) for p in drop_paths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        for block in self.gma_stage:
            tokens = block(tokens, (h, w))
        return tokens.transpose(1, 2).reshape(b, c, h, w)


class GroupMixFormer(nn.Module):
    """GroupMixFormer backbone with an optional classifier (``norm4`` + ``head``)."""

    def __init__(self, cfg: GroupMixFormerConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or GroupMixFormerConfig()
        self.cfg = cfg
        dims = cfg.embed_dims
        self.conv_stem = ConvStem(cfg.in_chans, dims[0])
        self.patch_embed_layers = nn.ModuleList(
            PatchEmbed(dims[max(i - 1, 0)], dims[i], cfg.strides[i]) for i in range(len(cfg.depths))
        )
        rates = torch.linspace(0, cfg.drop_path_rate, sum(cfg.depths), device="cpu").tolist()
        self.groupmixformer_backbone = nn.ModuleList(
            GroupMixStage(dims[i], cfg.mlp_ratios[i], rates[sum(cfg.depths[:i]) :][:d], cfg)
            for i, d in enumerate(cfg.depths)
        )
        if cfg.num_classes > 0:
            self.norm4 = nn.BatchNorm2d(dims[-1])
            self.head = nn.Linear(dims[-1], cfg.num_classes)
        self.apply(init_linear_and_norm)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-stage outputs, NCHW, before the classifier."""
        x = self.conv_stem(x)
        outs = []
        for embed, stage in zip(self.patch_embed_layers, self.groupmixformer_backbone, strict=True):
            x = stage(embed(x))
            outs.append(x)
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, num_classes)."""
        if self.cfg.num_classes == 0:
            raise ConfigError("this GroupMixFormer was built with num_classes=0 (no head)")
        last = self.forward_features(x)[-1]
        return cast(torch.Tensor, self.head(self.norm4(last).mean(dim=(2, 3))))


def groupmixformer_m(num_classes: int = 1000, drop_path_rate: float = 0.0) -> GroupMixFormer:
    """GroupMixFormer-M (the release's ``groupmixformer_miny``): dims 40/80/160/160, 3-3-12-4."""
    return GroupMixFormer(
        GroupMixFormerConfig(num_classes=num_classes, drop_path_rate=drop_path_rate)
    )


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_release_weights` did: tensors loaded, and checkpoint keys left unused."""

    source: Path
    loaded: int
    skipped: list[str] = field(default_factory=list)


CLASSIFIER_PREFIXES = ("norm4.", "head.")


def load_release_weights(model: GroupMixFormer, path: str | Path) -> LoadReport:
    """Initialise ``model``'s backbone (never the classifier) from a local release checkpoint."""
    loaded = sum(not k.startswith(CLASSIFIER_PREFIXES) for k in model.state_dict())
    skipped = load_pretrained_backbone(
        model, path, layout="GroupMixFormer release", ignore=CLASSIFIER_PREFIXES
    )
    return LoadReport(Path(path), loaded=loaded, skipped=skipped)


class GroupMixFormerSamEncoder(nn.Module):
    """GMF backbone (no head) + 1×1 neck: (B,3,S,S) -> (B,256,S/16,S/16). See module docstring."""

    def __init__(self, cfg: GroupMixFormerConfig, img_size: int = 1024) -> None:
        super().__init__()
        self.img_size = check_img_size(img_size)
        if cfg.num_classes:
            raise ConfigError(f"a SAM student has no classifier: num_classes={cfg.num_classes}")
        # each stage's total downsampling: the stem's 4 times the patch embeddings' strides
        reductions = list(itertools.accumulate(cfg.strides, operator.mul, initial=4))[1:]
        if reductions[-1] != PATCH_STRIDE:
            raise ConfigError(
                f"GMF student strides={list(cfg.strides)} put the last stage at 1/"
                f"{reductions[-1]} of the input; it must be at 1/{PATCH_STRIDE}"
            )
        if 8 not in reductions:
            raise ConfigError(
                f"GMF student strides={list(cfg.strides)} leave no stage at 1/8 of the input "
                "for the neck"
            )
        self.fine_stage = len(reductions) - 1 - reductions[::-1].index(8)
        self.backbone = GroupMixFormer(cfg)
        neck_in = cfg.embed_dims[self.fine_stage] + cfg.embed_dims[-1]
        self.neck = nn.Conv2d(neck_in, EMBED_DIM, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone.forward_features(x)
        fine = F.avg_pool2d(feats[self.fine_stage], 2)
        out = conv_act(torch.cat([feats[-1], fine], dim=1), self.neck)
        return out.contiguous()  # the inference form's stages run channels-last

    def fuse_for_inference(self) -> GroupMixFormerSamEncoder:
        """An equivalent eval-mode copy for deployment (see :mod:`.gmf_inference`)."""
        from gms_models.encoders.gmf_inference import fuse_gmf_encoder

        return fuse_gmf_encoder(self)


def build_gmf_student(
    depths: Sequence[int],
    embed_dims: Sequence[int] = GMF_M_DIMS,
    img_size: int = 1024,
    pretrained: str | Path | None = None,
    drop_path_rate: float = 0.0,
) -> GroupMixFormerSamEncoder:
    """A GMF student with GroupMixFormer-M widths; ``pretrained`` initialises the backbone only."""
    n = len(depths)
    dims = tuple(embed_dims)[:n]
    strides = ((1, 2, 2) + (1,) * max(n - 3, 0))[:n]
    cfg = GroupMixFormerConfig(
        embed_dims=dims,
        depths=tuple(depths),
        mlp_ratios=(4.0,) * n,
        strides=strides,
        drop_path_rate=drop_path_rate,
        num_classes=0,
    )
    model = GroupMixFormerSamEncoder(cfg, img_size)
    if pretrained is not None:
        load_release_weights(model.backbone, pretrained)
    return model


#: Table 2's GMF students by name: depths per stage (params, thop MACs at 1024 noted).
GMF_STUDENTS: dict[str, tuple[int, ...]] = {
    "gmf_33124": (3, 3, 12, 4),  # 5.63M, 32435.40M
    "gmf_3312": (3, 3, 12),  # 4.31M, 26808.09M (three stages, widths 40/80/160)
    "gmf_3344": (3, 3, 4, 4),  # 3.03M, 21407.53M
    "gmf_2264": (2, 2, 6, 4),  # 3.58M, 21128.09M
    "gmf_2282": (2, 2, 8, 2),  # 3.58M, 21128.09M (the paper's pick)
}
for _name, _depths in GMF_STUDENTS.items():
    register_encoder(_name)(functools.partial(build_gmf_student, _depths))
