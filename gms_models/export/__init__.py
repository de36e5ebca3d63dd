"""Checked ONNX files, INT8 encoders and TensorRT engines, each with its metadata JSON."""

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
