"""Student and teacher image encoders, one module per family; importing registers them."""

from gms_models.encoders import groupmixformer, resnet18, vit_t

__all__ = ["groupmixformer", "resnet18", "vit_t"]
