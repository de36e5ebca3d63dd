"""Export for deployment: image encoders and SAM's prompt decoder to checked ONNX files, INT8
quantised encoders for CPU, TensorRT engines, each with a metadata JSON beside it.

``export_bundle(out, teacher_sources("vit_t", ckpt))`` writes a folder that
:class:`gms_models.runtime.BundlePredictor` segments with, without PyTorch.
"""

from gms_models.export.bundle import BundleResult, check_destination, export_bundle
from gms_models.export.checked import ExportResult
from gms_models.export.errors import EngineBuildError, ExportError, ParityError
from gms_models.export.metadata import library_versions, read_metadata
from gms_models.export.onnx_encoder import default_parity_image, export_encoder_onnx
from gms_models.export.onnx_graph import check_opset
from gms_models.export.sources import ExportSources, student_sources, teacher_sources

__all__ = [
    "BundleResult",
    "EngineBuildError",
    "ExportError",
    "ExportResult",
    "ExportSources",
    "ParityError",
    "check_destination",
    "check_opset",
    "default_parity_image",
    "export_bundle",
    "export_encoder_onnx",
    "library_versions",
    "read_metadata",
    "student_sources",
    "teacher_sources",
]
