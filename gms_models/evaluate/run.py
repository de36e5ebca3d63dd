"""One evaluation of a checkpoint, the entry of ``gms evaluate`` and of the pipeline's steps."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from gms_models.checkpoint import read_student_checkpoint
from gms_models.data.coco import CocoInstances
from gms_models.data.malsd import HandPoints
from gms_models.encoders import inference_form
from gms_models.errors import ConfigError
from gms_models.evaluate.coco_boxes import evaluate_coco_boxes
from gms_models.evaluate.figures import coco_grid_prompts, hand_point_prompt, render_mask_grid
from gms_models.evaluate.masks import Candidates
from gms_models.evaluate.points_vs_teacher import evaluate_points_vs_teacher
from gms_models.evaluate.results import CocoBoxEval, PointEval, Reference
from gms_models.sam.sam import Sam, build_sam, build_sam_vit_t

log = logging.getLogger(__name__)

TEACHER_NAME = "teacher"
GRID_FILE = "grid.png"
RANDOM_DECODER_SEED = 0


def build_teacher_sam(
    teacher_ckpt: str | Path, img_size: int = 1024, device: str | torch.device = "cpu"
) -> Sam:
    """MobileSAM with its image encoder in the deployed form (as the students')."""
    sam = build_sam_vit_t(teacher_ckpt, img_size=img_size)
    sam.image_encoder = inference_form(sam.image_encoder)
    return sam.to(device).eval()


def checkpoint_teacher_size(student_ckpt: str | Path) -> int | None:
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
    """The student behind ``teacher_ckpt``'s prompt encoder and mask decoder (without it random,
    seeded: plumbing checks only), at ``img_size`` (default: its trained size)."""
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


@dataclass(frozen=True)
class CheckpointEval:
    result: CocoBoxEval | PointEval
    records: Path
    grid: Path | None


def evaluate_checkpoint(
    teacher: Path,
    data: CocoInstances | Sequence[HandPoints],
    out_dir: Path,
    *,
    arch: str | None = None,
    student: Path | None = None,
    name: str | None = None,
    against: Reference = "gt",
    img_size: int | None = None,
    teacher_size: int | None = None,
    batch_prompts: int = 64,
    include_crowd: bool = False,
    candidates: Candidates = "multimask",
    grid_images: int = 2,
    device: str = "cpu",
    progress: bool = False,
) -> CheckpointEval:
    """Score ``student`` (or the teacher when there is none) on COCO boxes (``against`` COCO's
    masks or the teacher's) or MALSD points; ``teacher_size`` defaults to the distillation's."""
    points = not isinstance(data, CocoInstances)
    if points and against == "gt":
        raise ConfigError("MALSD hand points have no ground-truth masks: score against the teacher")
    if student is not None:
        if arch is None:
            raise ConfigError(f"student checkpoint {student} needs its arch")
        model = build_student_sam(arch, student, teacher, img_size, device=device)
        reference_size = teacher_size or checkpoint_teacher_size(student) or 1024
    elif against == "teacher":
        raise ConfigError("scoring the teacher against itself compares nothing")
    else:
        model = build_teacher_sam(teacher, img_size or 1024, device)
        reference_size = teacher_size or 1024
    reference = None
    if against == "teacher" or (grid_images and student is not None):
        reference = build_teacher_sam(teacher, reference_size, device)

    result: CocoBoxEval | PointEval
    if isinstance(data, CocoInstances):
        result = evaluate_coco_boxes(
            model, data, teacher=reference if against == "teacher" else None,
            batch_prompts=batch_prompts, include_crowd=include_crowd, candidates=candidates,
            progress=progress,
        )  # fmt: skip
        records = result.to_json(out_dir / "per_annotation.json")
        images = [data[i] for i in range(min(grid_images, len(data)))]
        cells = [(image.path, boxes) for image in images if (boxes := coco_grid_prompts(image))]
    else:
        assert reference is not None
        result = evaluate_points_vs_teacher(
            model, reference, data, candidates=candidates, progress=progress
        )
        records = result.to_json(out_dir / "per_prompt.json")
        cells = [(entry.path, [hand_point_prompt(entry)]) for entry in data[:grid_images]]

    grid = None
    if cells:
        models = {name or arch or TEACHER_NAME: model}
        if reference is not None:
            models = {TEACHER_NAME: reference, **models}
        grid = render_mask_grid(
            [path for path, _ in cells],
            [prompts for _, prompts in cells],
            models,
            out_dir / GRID_FILE,
            candidates=candidates,
            title="MALSD hand points" if points else "COCO box prompts",
        )
    return CheckpointEval(result, records, grid)
