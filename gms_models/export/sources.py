"""What an export starts from: an encoder and optionally SAM's decoder parts, with their sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from gms_models.errors import CheckpointError, ConfigError
from gms_models.export.metadata import SourceCheckpoint
from gms_models.sam.mask_decoder import MaskDecoder
from gms_models.sam.prompt_encoder import PromptEncoder

TEACHER_ARCH = "vit_t"
DEFAULT_IMG_SIZE = 1024


@dataclass
class ExportSources:
    arch: str
    img_size: int
    encoder: nn.Module
    encoder_source: SourceCheckpoint | None
    prompt_encoder: PromptEncoder | None = None
    mask_decoder: MaskDecoder | None = None
    decoder_source: SourceCheckpoint | None = None

    @property
    def has_decoder(self) -> bool:
        return self.prompt_encoder is not None and self.mask_decoder is not None


def _require_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    return path


def teacher_sources(
    arch: str, checkpoint: str | Path, img_size: int = DEFAULT_IMG_SIZE
) -> ExportSources:
    if arch != TEACHER_ARCH:
        raise CheckpointError(
            f"--teacher checkpoints hold the {TEACHER_ARCH!r} encoder (MobileSAM), but --arch "
            f"{arch!r} was given; use --arch {TEACHER_ARCH}, or --student for a {arch!r} student"
        )
    from gms_models.sam import build_sam_vit_t

    path = _require_file(checkpoint, "teacher checkpoint")
    sam = build_sam_vit_t(checkpoint=path, img_size=img_size)
    source = SourceCheckpoint.of(path)
    return ExportSources(
        arch,
        img_size,
        sam.image_encoder.eval(),
        source,
        sam.prompt_encoder,
        sam.mask_decoder,
        source,
    )


def student_sources(
    arch: str,
    checkpoint: str | Path,
    img_size: int | None = None,
    decoder_checkpoint: str | Path | None = None,
) -> ExportSources:
    """A student at its trained size, with the decoder parts of ``decoder_checkpoint`` if given."""
    from gms_models.checkpoint import read_student_checkpoint

    path = _require_file(checkpoint, "student checkpoint")
    stored = read_student_checkpoint(path, expected_arch=arch)
    if img_size is not None and img_size != stored.img_size:
        raise ConfigError(
            f"--img-size {img_size} differs from the {stored.img_size} that student checkpoint "
            f"{path} was trained at; a student exports at its own input size"
        )
    encoder = stored.build_encoder()
    sources = ExportSources(arch, stored.img_size, encoder, SourceCheckpoint.of(path))
    if decoder_checkpoint is not None:
        from gms_models.sam import build_sam

        dec_path = _require_file(decoder_checkpoint, "decoder checkpoint")
        sam = build_sam(image_encoder=encoder, checkpoint=dec_path, img_size=stored.img_size)
        sources.prompt_encoder = sam.prompt_encoder
        sources.mask_decoder = sam.mask_decoder
        sources.decoder_source = SourceCheckpoint.of(dec_path)
    return sources
