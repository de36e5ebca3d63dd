"""The distillation teacher: PyTorch, ONNX Runtime or TensorRT, and its feature cache."""

from gms_models.teacher.base import (
    TeacherBackend,
    TeacherSpec,
    ensure_teacher_onnx,
    teacher_onnx_path,
)
from gms_models.teacher.feature_cache import FeatureCache, recipe_digest
from gms_models.teacher.onnxruntime_backend import OnnxRuntimeTeacher
from gms_models.teacher.select import resolve_backend_name, select_teacher
from gms_models.teacher.tensorrt_backend import (
    TensorRTTeacher,
    engine_cache_key,
    tensorrt_available,
)
from gms_models.teacher.torch_backend import TorchTeacher

__all__ = [
    "FeatureCache",
    "OnnxRuntimeTeacher",
    "TeacherBackend",
    "TeacherSpec",
    "TensorRTTeacher",
    "TorchTeacher",
    "engine_cache_key",
    "ensure_teacher_onnx",
    "recipe_digest",
    "resolve_backend_name",
    "select_teacher",
    "teacher_onnx_path",
    "tensorrt_available",
]
