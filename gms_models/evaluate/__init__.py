"""Scoring SAMs by mIoU: box prompts on COCO (the nanosam protocol, against the ground truth or
the teacher), point prompts against the teacher's masks (the paper's Table 3), and mask grids
(the paper's Figures 3 and 4).

- :func:`evaluate_coco_boxes` (against COCO's masks or a teacher's) → :class:`CocoBoxEval`
- :func:`evaluate_points_vs_teacher` (MALSD hand points, or :func:`points_from_coco`) →
  :class:`PointEval`
- :func:`render_mask_grid` with :class:`GridPrompt` prompts
- :func:`build_student_sam`, :func:`build_teacher_sam`: the models to evaluate
- :func:`evaluate_checkpoint` → :class:`CheckpointEval`: one checkpoint scored, its records and
  mask grid written (the entry of ``gms evaluate`` and of the pipeline)
"""

from gms_models.evaluate.coco_boxes import clip_box, evaluate_coco_boxes
from gms_models.evaluate.figures import (
    GridPrompt,
    coco_grid_prompts,
    hand_point_prompt,
    render_mask_grid,
)
from gms_models.evaluate.masks import CANDIDATES, Candidates, ChosenMasks, mask_iou, predict_best
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
from gms_models.evaluate.results import AnnotationResult, CocoBoxEval, PointEval, PointResult
from gms_models.evaluate.run import CheckpointEval, evaluate_checkpoint

__all__ = [
    "CANDIDATES",
    "AnnotationResult",
    "Candidates",
    "CheckpointEval",
    "ChosenMasks",
    "CocoBoxEval",
    "GridPrompt",
    "PointEval",
    "PointResult",
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
