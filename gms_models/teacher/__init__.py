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
    resolve_device,
    teacher_onnx_path,
)
from gms_models.teacher.feature_cache import FeatureCache, recipe_digest
from gms_models.teacher.onnxruntime_backend import OnnxRuntimeTeacher, onnxruntime_cuda_available
from gms_models.teacher.select import (
    BACKEND_NAMES,
    resolve_backend_name,
    resolve_precision,
    select_teacher,
)
from gms_models.teacher.tensorrt_backend import (
    TensorRTTeacher,
    engine_cache_key,
    tensorrt_available,
)
from gms_models.teacher.torch_backend import TorchTeacher
from gms_models.teacher_options import BackendName, PrecisionChoice, TeacherPrecision

__all__ = [
    "BACKEND_NAMES",
    "BackendName",
    "FeatureCache",
    "OnnxRuntimeTeacher",
    "PrecisionChoice",
    "TeacherBackend",
    "TeacherPrecision",
    "TeacherSpec",
    "TensorRTTeacher",
    "TorchTeacher",
    "engine_cache_key",
    "ensure_teacher_onnx",
    "onnxruntime_cuda_available",
    "recipe_digest",
    "resolve_backend_name",
    "resolve_device",
    "resolve_precision",
    "select_teacher",
    "teacher_onnx_path",
    "tensorrt_available",
]
