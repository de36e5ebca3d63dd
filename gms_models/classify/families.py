"""The twelve families of the paper's Table 1 as Act0/NG classifiers (eleven from ``vit-pytorch``),
each at its smallest published size that ``vit-pytorch`` can express. Params (every parameter) and
thop MACs (no attention matmuls) for 2 classes at 224²:

deepvit 5.52M 1.08G (ViT-Ti sizes: no tiny DeepViT), nest 16.14M 5.24G (NesT-T), regionvit 12.30M
2.48G (-Ti), vit 5.52M 1.08G (ViT-Ti), cct 4.55M 1.47G (CCT-7/7×2), crossvit 6.84M 1.51G (-Ti
widths, patches 8/16 not 12/16 so that 224 divides), t2t 15.66M 8.58G (T2T-ViT-7 backbone; its
soft-split transformers are much wider than the paper's), pit 2.70M 0.36G (PiT-Ti), cait 11.75M
2.16G (CaiT-XXS-24), cvt 19.55M 4.06G (CvT-13), levit 6.60M 0.37G (LeViT-128S), gmf_m 5.57M 1.34G.

Dropout only where the published recipe builds it in (CCT 0.1 and drop path 0.1, GMF drop path
0.1). RegionViT needs 28·2^k sides, patch-16 families multiples of 16; all take 112·2^k."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

from gms_models.errors import ConfigError

MIN_IMG_SIZE = 32


@dataclass(frozen=True)
class SizeRule:
    """Square sides ``base·m`` (``base·2^k`` when ``powers_of_two``), at least MIN_IMG_SIZE."""

    base: int = 1
    powers_of_two: bool = False

    def accepts(self, img_size: int) -> bool:
        if img_size < MIN_IMG_SIZE or img_size % self.base:
            return False
        if not self.powers_of_two:
            return True
        factor = img_size // self.base
        return factor & (factor - 1) == 0

    def describe(self) -> str:
        if self.powers_of_two:
            return f"{self.base}·2^k and >= {MIN_IMG_SIZE}"
        if self.base == 1:
            return f"any size >= {MIN_IMG_SIZE}"
        return f"a multiple of {self.base}, >= {MIN_IMG_SIZE}"


@dataclass(frozen=True)
class ClassifierFamily:
    """One row of Table 1; ``factory`` is ``module:callable``, imported on first use."""

    name: str
    slug: str
    factory: str
    kwargs: Mapping[str, Any]
    size_arg: str | None
    size_rule: SizeRule

    def build(self, img_size: int, num_classes: int = 2) -> nn.Module:
        if not self.size_rule.accepts(img_size):
            raise ConfigError(
                f"{self.name} ({self.slug}) cannot take img_size={img_size}: it needs "
                f"{self.size_rule.describe()}"
            )
        module_name, _, attr = self.factory.partition(":")
        constructor: Callable[..., nn.Module] = getattr(importlib.import_module(module_name), attr)
        kwargs = dict(self.kwargs, num_classes=num_classes)
        if self.size_arg is not None:
            kwargs[self.size_arg] = img_size
        return constructor(**kwargs)


def _family(
    name: str, slug: str, factory: str, size_arg: str | None, size_rule: SizeRule, **kwargs: Any
) -> ClassifierFamily:
    return ClassifierFamily(name, slug, factory, MappingProxyType(kwargs), size_arg, size_rule)


_PATCH16 = SizeRule(16)
_ANY = SizeRule()

# fmt: off
TABLE1_FAMILIES: tuple[ClassifierFamily, ...] = (
    _family(
        "DeepViT", "deepvit", "vit_pytorch.deepvit:DeepViT", "image_size", _PATCH16,
        patch_size=16, dim=192, depth=12, heads=3, mlp_dim=768,
    ),
    _family(
        "NesT", "nest", "vit_pytorch.nest:NesT", "image_size", _PATCH16,
        patch_size=4, dim=96, heads=3, num_hierarchies=3, block_repeats=(2, 2, 8),
    ),
    _family(
        "RegionViT", "regionvit", "vit_pytorch.regionvit:RegionViT", None,
        SizeRule(28, powers_of_two=True),
        dim=(64, 128, 256, 512), depth=(2, 2, 8, 2), window_size=7, tokenize_local_3_conv=True,
    ),
    _family(
        "ViT", "vit", "vit_pytorch.vit:ViT", "image_size", _PATCH16,
        patch_size=16, dim=192, depth=12, heads=3, mlp_dim=768,
    ),
    _family(
        "CCT", "cct", "vit_pytorch.cct:CCT", "img_size", _ANY,
        embedding_dim=256, n_conv_layers=2, kernel_size=7, stride=2, padding=3,
        pooling_kernel_size=3, pooling_stride=2, pooling_padding=1, num_layers=7, num_heads=4,
        mlp_ratio=2.0, positional_embedding="learnable",
    ),
    _family(
        "CrossViT", "crossvit", "vit_pytorch.cross_vit:CrossViT", "image_size", _PATCH16,
        depth=3, sm_dim=96, sm_patch_size=8, sm_enc_depth=1, sm_enc_heads=3, sm_enc_mlp_dim=384,
        sm_enc_dim_head=32, lg_dim=192, lg_patch_size=16, lg_enc_depth=4, lg_enc_heads=3,
        lg_enc_mlp_dim=768, lg_enc_dim_head=64, cross_attn_depth=1, cross_attn_heads=3,
        cross_attn_dim_head=64, dropout=0.0, emb_dropout=0.0,
    ),
    _family(
        "Token-to-Token ViT", "t2t", "vit_pytorch.t2t:T2TViT", "image_size", _ANY,
        dim=256, depth=7, heads=4, mlp_dim=512, t2t_layers=((7, 4), (3, 2), (3, 2)),
    ),
    _family(
        "PiT", "pit", "vit_pytorch.pit:PiT", "image_size", _PATCH16,
        patch_size=16, dim=64, depth=(2, 6, 4), heads=(2, 4, 8), dim_head=32, mlp_dim=256,
    ),
    _family(
        "CaiT", "cait", "vit_pytorch.cait:CaiT", "image_size", _PATCH16,
        patch_size=16, dim=192, depth=24, cls_depth=2, heads=4, dim_head=48, mlp_dim=768,
    ),
    _family(
        "CvT", "cvt", "vit_pytorch.cvt:CvT", None, _ANY,
        s1_emb_dim=64, s1_heads=1, s1_depth=1,
        s2_emb_dim=192, s2_heads=3, s2_depth=2,
        s3_emb_dim=384, s3_heads=6, s3_depth=10,
    ),
    _family(
        "LeViT", "levit", "vit_pytorch.levit:LeViT", "image_size", _PATCH16,
        stages=3, dim=(128, 256, 384), depth=(2, 3, 4), heads=(4, 6, 8), mlp_mult=2,
        dim_key=16, dim_value=32,
    ),
    _family(
        "GroupMixFormer", "gmf_m", "gms_models.encoders.groupmixformer:groupmixformer_m", None,
        _ANY, drop_path_rate=0.1,
    ),
)
# fmt: on

_BY_KEY = {key: f for f in TABLE1_FAMILIES for key in (f.name.lower(), f.slug)}


def family_slugs() -> list[str]:
    return [f.slug for f in TABLE1_FAMILIES]


def get_family(key: str) -> ClassifierFamily:
    family = _BY_KEY.get(key.strip().lower())
    if family is None:
        known = ", ".join(family_slugs())
        raise ConfigError(f"unknown encoder family {key!r}; known families: {known}")
    return family


def resolve_families(selection: str | Iterable[str]) -> list[ClassifierFamily]:
    """``"all"``, a comma-separated string or a list of slugs or names; Table 1 order, each once."""
    keys = selection.split(",") if isinstance(selection, str) else list(selection)
    keys = [k.strip() for k in keys if k.strip()]
    if not keys:
        raise ConfigError("no encoder family selected; give 'all' or slugs like 'vit,levit'")
    if any(k.lower() == "all" for k in keys):
        return list(TABLE1_FAMILIES)
    chosen = {get_family(k).slug for k in keys}
    return [f for f in TABLE1_FAMILIES if f.slug in chosen]


def common_img_sizes(families: Iterable[ClassifierFamily], up_to: int = 1024) -> list[int]:
    families = list(families)
    return [
        s for s in range(MIN_IMG_SIZE, up_to + 1) if all(f.size_rule.accepts(s) for f in families)
    ]


def build_classifier(family: str, img_size: int = 224, num_classes: int = 2) -> nn.Module:
    return get_family(family).build(img_size, num_classes)
