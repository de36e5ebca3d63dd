"""Student and teacher image encoders, one module per family; importing registers them."""

from torch import nn

from gms_models.encoders import groupmixformer, resnet18, vit_t


def inference_form(encoder: nn.Module) -> nn.Module:
    """``encoder.fuse_for_inference()`` where the family has one (GMF), else ``encoder`` in eval."""
    fuse = getattr(encoder, "fuse_for_inference", None)
    return fuse() if fuse is not None else encoder.eval()


__all__ = ["groupmixformer", "inference_form", "resnet18", "vit_t"]
