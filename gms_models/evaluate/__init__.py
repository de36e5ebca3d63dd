"""Scoring SAMs by mIoU (COCO box prompts, points against the teacher) and drawing mask grids;
:func:`evaluate_checkpoint` is the entry of ``gms evaluate`` and of the pipeline."""

from gms_models.evaluate.coco_boxes import clip_box, evaluate_coco_boxes
from gms_models.evaluate.figures import (
    GridPrompt,
    coco_grid_prompts,
    hand_point_prompt,
    render_mask_grid,
)
from gms_models.evaluate.masks import mask_iou, predict_best
from gms_models.evaluate.models import (
    build_student_sam,
    build_teacher_sam,
    checkpoint_teacher_size,
)
from gms_models.evaluate.points_vs_teacher import (
    evaluate_points_vs_teacher,
    interior_point,
    points_from_coco,
)
from gms_models.evaluate.results import CocoBoxEval, PointEval
from gms_models.evaluate.run import CheckpointEval, evaluate_checkpoint

__all__ = [
    "CheckpointEval",
    "CocoBoxEval",
    "GridPrompt",
    "PointEval",
    "build_student_sam",
    "build_teacher_sam",
    "checkpoint_teacher_size",
    "clip_box",
    "coco_grid_prompts",
    "evaluate_checkpoint",
    "evaluate_coco_boxes",
    "evaluate_points_vs_teacher",
    "hand_point_prompt",
    "interior_point",
    "mask_iou",
    "points_from_coco",
    "predict_best",
    "render_mask_grid",
]
