"""One evaluation of a checkpoint (a student behind the teacher's prompt encoder and mask decoder,
or the teacher itself): the entry of ``gms evaluate`` and of the pipeline's evaluation steps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gms_models.data.coco import CocoInstances
from gms_models.data.malsd import HandPoints
from gms_models.errors import ConfigError
from gms_models.evaluate.coco_boxes import evaluate_coco_boxes
from gms_models.evaluate.figures import (
    GridPrompt,
    coco_grid_prompts,
    hand_point_prompt,
    render_mask_grid,
)
from gms_models.evaluate.masks import Candidates
from gms_models.evaluate.models import (
    build_student_sam,
    build_teacher_sam,
    checkpoint_teacher_size,
)
from gms_models.evaluate.points_vs_teacher import evaluate_points_vs_teacher
from gms_models.evaluate.results import CocoBoxEval, PointEval, Reference

TEACHER_NAME = "teacher"
GRID_FILE = "grid.png"


@dataclass(frozen=True)
class CheckpointEval:
    """The scores, and the files written: the per-prompt records and the mask grid."""

    result: CocoBoxEval | PointEval
    records: Path
    grid: Path | None


def _grid_inputs(
    data: CocoInstances | Sequence[HandPoints], n: int
) -> tuple[list[Path], list[list[GridPrompt]]]:
    if isinstance(data, CocoInstances):
        images = [data[i] for i in range(min(n, len(data)))]
        images = [image for image in images if coco_grid_prompts(image)]
        return [image.path for image in images], [coco_grid_prompts(image) for image in images]
    return [entry.path for entry in data[:n]], [[hand_point_prompt(entry)] for entry in data[:n]]


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
    """Score the student of ``student`` (encoder ``arch``), or the teacher when there is none, on
    COCO boxes (``against`` COCO's masks or the teacher's) or MALSD points (the teacher's).

    ``img_size`` defaults to the student's trained size (1024 for the teacher), ``teacher_size``
    to the size it was distilled at. Writes the per-prompt records and, with ``grid_images``,
    ``grid.png``.
    """
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
    else:
        assert reference is not None
        result = evaluate_points_vs_teacher(
            model, reference, data, candidates=candidates, progress=progress
        )
        records = result.to_json(out_dir / "per_prompt.json")

    grid = None
    paths, prompts = _grid_inputs(data, grid_images)
    if paths:
        models = {name or arch or TEACHER_NAME: model}
        if reference is not None:
            models = {TEACHER_NAME: reference, **models}
        grid = render_mask_grid(
            paths,
            prompts,
            models,
            out_dir / GRID_FILE,
            candidates=candidates,
            title="MALSD hand points" if points else "COCO box prompts",
        )
    return CheckpointEval(result, records, grid)
