"""SAM (image encoder, prompt encoder, mask decoder): MobileSAM (the 439 keys of ``mobile_sam.pt``)
or any (B,3,S,S) -> (B,256,S/16,S/16) encoder before the stock prompt encoder and decoder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gms_models.checkpoint import (
    compare_state_dicts,
    load_checkpoint_state,
    load_state_dict_checked,
)
from gms_models.errors import CheckpointError
from gms_models.geometry import EMBED_DIM, PATCH_STRIDE, check_img_size
from gms_models.sam.mask_decoder import MaskDecoder
from gms_models.sam.prompt_encoder import PromptEncoder
from gms_models.sam.tiny_vit import TinyViT, TinyViTConfig
from gms_models.sam.transformer import TwoWayTransformer

DECODER_PARTS = ("prompt_encoder.", "mask_decoder.")

Checkpoint = str | Path | Mapping[str, torch.Tensor]


class Sam(nn.Module):
    def __init__(
        self,
        image_encoder: nn.Module,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        img_size: int = 1024,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.img_size = img_size

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def postprocess_masks(
        self,
        low_res_logits: torch.Tensor,
        input_size: tuple[int, int],
        original_size: tuple[int, int],
    ) -> torch.Tensor:
        """(B,C,S/4,S/4) -> (B,C,H,W) logits as the official ``Sam`` (geometry's is torch-free)."""
        size = (self.img_size, self.img_size)
        masks = F.interpolate(low_res_logits, size, mode="bilinear", align_corners=False)
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(masks, original_size, mode="bilinear", align_corners=False)

    def decode(
        self,
        features: torch.Tensor,
        point_coords: torch.Tensor | None = None,
        point_labels: torch.Tensor | None = None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-res logits (B,C,S/4,S/4) and IoU (B,C) of B prompts in the input frame."""
        points = None if point_coords is None else (point_coords, point_labels)
        sparse, dense = self.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        decoded: tuple[torch.Tensor, torch.Tensor] = self.mask_decoder(
            features, self.prompt_encoder.get_dense_pe(), sparse, dense, multimask_output
        )
        return decoded


def build_sam(
    image_encoder: nn.Module | None = None,
    checkpoint: Checkpoint | None = None,
    img_size: int = 1024,
    strict: bool = True,
    sha256: str | None = None,
) -> Sam:
    """A SAM in eval mode from a ``mobile_sam.pt``-layout checkpoint (path, URL, state dict): all of
    it into the ViT-T teacher (with its unused head), or the decoder parts beside ``image_encoder``.
    """
    check_img_size(img_size)
    # The checkpoint first: bad files fail fast.
    state: Mapping[str, torch.Tensor] | None = None
    source = "state dict"
    if isinstance(checkpoint, Mapping):
        state = checkpoint
    elif checkpoint is not None:
        state = load_checkpoint_state(checkpoint, sha256=sha256)
        source = f"checkpoint {checkpoint}"
    teacher = image_encoder is None
    if image_encoder is None:
        image_encoder = TinyViT(TinyViTConfig(img_size=img_size, with_head=True))
    grid = img_size // PATCH_STRIDE
    prompt_encoder = PromptEncoder(EMBED_DIM, (grid, grid), (img_size, img_size), mask_in_chans=16)
    transformer = TwoWayTransformer(depth=2, embedding_dim=EMBED_DIM, num_heads=8, mlp_dim=2048)
    sam = Sam(image_encoder, prompt_encoder, MaskDecoder(EMBED_DIM, transformer), img_size)
    if state is not None:
        if teacher:
            load_state_dict_checked(sam, state, source=source, strict=strict)
        else:
            _load_decoder_parts(sam, state, source)
    return sam.eval()


def _load_decoder_parts(sam: Sam, state: Mapping[str, torch.Tensor], source: str) -> None:
    wanted = {k: v for k, v in sam.state_dict().items() if k.startswith(DECODER_PARTS)}
    given = {k: v for k, v in state.items() if k.startswith(DECODER_PARTS)}
    mismatch = compare_state_dicts(wanted, given)
    if not mismatch.is_empty():
        raise CheckpointError(
            f"{source} does not match SAM's prompt encoder and mask decoder: {mismatch.describe()}"
        )
    sam.load_state_dict(given, strict=False)


def build_sam_vit_t(
    checkpoint: Checkpoint | None = None, img_size: int = 1024, sha256: str | None = None
) -> Sam:
    return build_sam(checkpoint=checkpoint, img_size=img_size, strict=True, sha256=sha256)
