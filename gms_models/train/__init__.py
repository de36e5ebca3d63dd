"""Decoupled distillation of student encoders from the SAM teacher (the nanosam recipe). Parts
load on first use (PEP 562), so the settings model loads without torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gms_models.lazy import lazy_attributes

if TYPE_CHECKING:
    from gms_models.checkpoint import load_student, read_student_checkpoint, save_student
    from gms_models.train.callbacks import EpochEnd, StepEvent, TrainerCallback, TrainPlan
    from gms_models.train.config import DATA_RECIPE_FIELDS, DistillConfig
    from gms_models.train.grouping import (
        Assignment,
        DeviceInfo,
        check_group,
        detect_devices,
        estimate_stream_memory,
        estimate_student_memory,
        group_by_recipe,
        pack_groups,
        split_to_fit,
    )
    from gms_models.train.student import FAILURE_FILE, NonFiniteLossError
    from gms_models.train.trainer import DistillResult, build_teacher, distill

_PARTS = (
    "gms_models.train.config",
    "gms_models.train.callbacks",
    "gms_models.checkpoint",
    "gms_models.train.grouping",
    "gms_models.train.student",
    "gms_models.train.trainer",
)

__all__ = [
    "DATA_RECIPE_FIELDS",
    "FAILURE_FILE",
    "Assignment",
    "DeviceInfo",
    "DistillConfig",
    "DistillResult",
    "EpochEnd",
    "NonFiniteLossError",
    "StepEvent",
    "TrainPlan",
    "TrainerCallback",
    "build_teacher",
    "check_group",
    "detect_devices",
    "distill",
    "estimate_stream_memory",
    "estimate_student_memory",
    "group_by_recipe",
    "load_student",
    "pack_groups",
    "read_student_checkpoint",
    "save_student",
    "split_to_fit",
]

__getattr__ = lazy_attributes(__name__, _PARTS, __all__)
