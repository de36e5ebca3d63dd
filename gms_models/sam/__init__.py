"""MobileSAM-compatible Segment Anything (state dicts of the public ``mobile_sam.pt``)."""

from gms_models.sam.predictor import SamPredictor
from gms_models.sam.sam import Sam, build_sam, build_sam_vit_t

__all__ = ["Sam", "SamPredictor", "build_sam", "build_sam_vit_t"]
