"""Decoupled distillation of student encoders from the SAM teacher (the nanosam recipe).

``distill(DistillConfig(...))`` trains one student and returns a :class:`DistillResult`;
``distill_group([...])`` trains several that share a data recipe over one data stream (one
teacher pass per batch for all), and :func:`group_by_recipe` / :func:`pack_groups` decide which
students go together on which device. :class:`Distiller` drives :class:`StudentRun` objects over
one data stream. Progress and metrics go to :class:`TrainerCallback` objects; checkpoints load
back with :func:`load_student`.
"""

from gms_models.checkpoint import (
    STATE_FILE,
    STUDENT_FILE,
    StudentCheckpoint,
    load_student,
    read_student_checkpoint,
    save_student,
)
from gms_models.train.callbacks import RichProgress, StepEvent, TrainerCallback, TrainPlan
from gms_models.train.config import DATA_RECIPE_FIELDS, DistillConfig
from gms_models.train.feature_picture import pick_channels, save_feature_picture
from gms_models.train.group import check_group, distill_group, recipe_differences
from gms_models.train.grouping import (
    Assignment,
    DeviceInfo,
    detect_devices,
    group_by_recipe,
    pack_groups,
    split_to_fit,
)
from gms_models.train.memory import (
    StreamMemory,
    StudentMemory,
    estimate_stream_memory,
    estimate_student_memory,
)
from gms_models.train.student import FAILURE_FILE, NonFiniteLossError, StudentRun
from gms_models.train.trainer import (
    DistillDataset,
    Distiller,
    DistillResult,
    build_dataset,
    build_feature_cache,
    build_teacher,
    distill,
    train_students,
)

__all__ = [
    "DATA_RECIPE_FIELDS",
    "FAILURE_FILE",
    "STATE_FILE",
    "STUDENT_FILE",
    "Assignment",
    "DeviceInfo",
    "DistillConfig",
    "DistillDataset",
    "DistillResult",
    "Distiller",
    "NonFiniteLossError",
    "RichProgress",
    "StepEvent",
    "StreamMemory",
    "StudentCheckpoint",
    "StudentMemory",
    "StudentRun",
    "TrainPlan",
    "TrainerCallback",
    "build_dataset",
    "build_feature_cache",
    "build_teacher",
    "check_group",
    "detect_devices",
    "distill",
    "distill_group",
    "estimate_stream_memory",
    "estimate_student_memory",
    "group_by_recipe",
    "load_student",
    "pack_groups",
    "pick_channels",
    "read_student_checkpoint",
    "recipe_differences",
    "save_feature_picture",
    "save_student",
    "split_to_fit",
    "train_students",
]
