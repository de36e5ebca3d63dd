"""Building the SAMs to evaluate: the teacher, and a student encoder behind the teacher's
prompt encoder and mask decoder."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from gms_models.checkpoint import read_student_checkpoint
from gms_models.encoders import inference_form
from gms_models.sam.sam import Sam, build_sam, build_sam_vit_t

log = logging.getLogger(__name__)

RANDOM_DECODER_SEED = 0


def build_teacher_sam(
    teacher_ckpt: str | Path, img_size: int = 1024, device: str | torch.device = "cpu"
) -> Sam:
    """MobileSAM (ViT-T) from a ``mobile_sam.pt``-layout checkpoint, at input ``img_size``, its
    image encoder in the deployed form (as the students')."""
    sam = build_sam_vit_t(teacher_ckpt, img_size=img_size)
    sam.image_encoder = inference_form(sam.image_encoder)
    return sam.to(device).eval()


def checkpoint_teacher_size(student_ckpt: str | Path) -> int | None:
    """The teacher input size the student was distilled at (from its stored config), if known."""
    config = read_student_checkpoint(student_ckpt).config
    size = config.get("teacher_size") or config.get("img_size")
    return int(size) if size else None


def build_student_sam(
    arch: str,
    student_ckpt: str | Path,
    teacher_ckpt: str | Path | None = None,
    img_size: int | None = None,
    device: str | torch.device = "cpu",
) -> Sam:
    """A SAM whose image encoder is the student of ``student_ckpt`` (of ``arch``), at
    ``img_size`` (default: its trained size; another works only without size-bound weights).

    The prompt encoder and mask decoder come from ``teacher_ckpt``; without it they are random
    (seed :data:`RANDOM_DECODER_SEED`), good for checking the plumbing only.
    """
    stored = read_student_checkpoint(student_ckpt, expected_arch=arch)
    img_size = img_size or stored.img_size
    encoder = inference_form(stored.build_encoder(img_size))
    if teacher_ckpt is None:
        log.warning(
            "no teacher checkpoint: the prompt encoder and mask decoder of the %s SAM are "
            "randomly initialised (seed %d); its masks mean nothing",
            arch,
            RANDOM_DECODER_SEED,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_DECODER_SEED)
            sam = build_sam(image_encoder=encoder, img_size=img_size)
    else:
        sam = build_sam(image_encoder=encoder, checkpoint=teacher_ckpt, img_size=img_size)
    return sam.to(device).eval()
