"""``vit_t``: MobileSAM's TinyViT without the unused head, as SAM runs and the paper profiles it
(5,743,892 params, 36,742.785M MACs at 1024); ``with_head=True``: ``mobile_sam.pt``'s keys."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from torch import nn

from gms_models.checkpoint import load_checkpoint_state, load_state_dict_checked, select_prefix
from gms_models.errors import ConfigError
from gms_models.registry import register_encoder
from gms_models.sam.tiny_vit import TinyViT, TinyViTConfig

SAM_ENCODER_PREFIX = "image_encoder."
HEAD_PREFIXES = ("head.", "norm_head.")

_CONFIG_FIELDS = {f.name for f in fields(TinyViTConfig)}


@register_encoder("vit_t")
def vit_t(
    img_size: int = 1024, pretrained: str | Path | None = None, **overrides: Any
) -> nn.Module:
    """``pretrained``: a ``mobile_sam.pt`` or bare encoder state dict, loaded strictly but for the
    head; ``overrides``: TinyViTConfig fields."""
    if unknown := sorted(set(overrides) - _CONFIG_FIELDS):
        raise ConfigError(f"unknown vit_t option(s) {unknown}; known: {sorted(_CONFIG_FIELDS)}")
    encoder = TinyViT(TinyViTConfig(img_size=img_size, **overrides))
    if pretrained is not None:
        state = load_checkpoint_state(pretrained)
        if any(k.startswith(SAM_ENCODER_PREFIX) for k in state):
            state = select_prefix(state, SAM_ENCODER_PREFIX)
        if not encoder.config.with_head:
            state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
        load_state_dict_checked(encoder, state, source=f"checkpoint {pretrained}")
    return encoder.eval() if pretrained is not None else encoder
