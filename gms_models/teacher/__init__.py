"""The distillation teacher behind one interface: PyTorch, ONNX Runtime or TensorRT.

``select_teacher(name, spec=TeacherSpec.from_checkpoint(ckpt, img_size), device=...)`` returns a
:class:`TeacherBackend`: call it on (B,3,T,T) SAM-normalised images to get (B,256,T/16,T/16)
float32 features on the training device. :class:`FeatureCache` keeps teacher features on disk
when the crops are fixed.
"""

from gms_models.teacher.base import (
    ONNX_INPUT_NAME,
    ONNX_OUTPUT_NAME,
    TeacherBackend,
    TeacherPrecision,
    TeacherSpec,
    TeacherUnavailableError,
    resolve_device,
)
from gms_models.teacher.feature_cache import FeatureCache, recipe_digest
from gms_models.teacher.onnx_export import (
    ensure_teacher_onnx,
    export_encoder_onnx,
    teacher_onnx_path,
)
from gms_models.teacher.onnxruntime_backend import OnnxRuntimeTeacher, onnxruntime_cuda_available
from gms_models.teacher.select import (
    BACKEND_NAMES,
    BackendName,
    PrecisionChoice,
    resolve_backend_name,
    resolve_precision,
    select_teacher,
)
from gms_models.teacher.tensorrt_backend import (
    EngineBuildError,
    TensorRTTeacher,
    build_engine,
    engine_cache_key,
    import_tensorrt,
    tensorrt_available,
)
from gms_models.teacher.torch_backend import TorchTeacher

__all__ = [
    "BACKEND_NAMES",
    "ONNX_INPUT_NAME",
    "ONNX_OUTPUT_NAME",
    "BackendName",
    "EngineBuildError",
    "FeatureCache",
    "OnnxRuntimeTeacher",
    "PrecisionChoice",
    "TeacherBackend",
    "TeacherPrecision",
    "TeacherSpec",
    "TeacherUnavailableError",
    "TensorRTTeacher",
    "TorchTeacher",
    "build_engine",
    "engine_cache_key",
    "ensure_teacher_onnx",
    "export_encoder_onnx",
    "import_tensorrt",
    "onnxruntime_cuda_available",
    "recipe_digest",
    "resolve_backend_name",
    "resolve_device",
    "resolve_precision",
    "select_teacher",
    "teacher_onnx_path",
    "tensorrt_available",
]
