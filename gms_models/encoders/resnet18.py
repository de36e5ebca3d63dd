"""nanosam's ResNet18 student (its attribute names): timm ResNet18, an upsampling neck, a position
map thop does not count (14,782,528 params, true 15,831,104; 45,623.54M MACs at 1024)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from gms_models.checkpoint import load_pretrained_backbone
from gms_models.geometry import EMBED_DIM, PATCH_STRIDE, check_img_size
from gms_models.registry import register_encoder


class ResNet18SamEncoder(nn.Module):
    def __init__(self, img_size: int = 1024, neck_channels: int = 256) -> None:
        super().__init__()
        self.img_size = check_img_size(img_size)
        import timm  # imported here: it takes seconds, and listing encoders should not pay that

        self.backbone = timm.create_model(
            "resnet18", pretrained=False, features_only=True, out_indices=(4,)
        )
        feature_info: Any = self.backbone.feature_info
        in_ch: int = feature_info.channels()[-1]
        c = neck_channels
        self.up_1 = nn.Sequential(
            nn.Conv2d(in_ch, c, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.GELU(),
            nn.ConvTranspose2d(c, c, 3, stride=2, padding=1, output_padding=1),
            nn.GELU(),
        )
        self.proj = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1), nn.GELU(), nn.Conv2d(c, EMBED_DIM, 1)
        )
        side = img_size // PATCH_STRIDE
        self.pos_embedding = nn.Parameter(1e-5 * torch.randn(1, EMBED_DIM, side, side))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (last,) = self.backbone(x)
        return cast(torch.Tensor, self.proj(self.up_1(last))) + self.pos_embedding


@register_encoder("resnet18")
def resnet18(img_size: int = 1024, pretrained: str | Path | None = None) -> ResNet18SamEncoder:
    """``pretrained``: a local timm ResNet18 checkpoint for the backbone (``fc.*`` skipped)."""
    model = ResNet18SamEncoder(img_size)
    if pretrained is not None:
        load_pretrained_backbone(model.backbone, pretrained, layout="timm resnet18")
    return model
