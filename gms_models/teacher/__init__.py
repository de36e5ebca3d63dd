"""The distillation teacher behind one interface: PyTorch, ONNX Runtime or TensorRT.

``select_teacher(name, spec=TeacherSpec.from_checkpoint(ckpt, img_size), device=...)`` returns a
:class:`TeacherBackend`: call it on (B,3,T,T) SAM-normalised images to get (B,256,T/16,T/16)
float32 features on the training device. :class:`FeatureCache` keeps teacher features on disk
when the crops are fixed.
"""

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
