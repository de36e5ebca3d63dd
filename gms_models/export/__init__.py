"""Export for deployment: image encoders and SAM's prompt decoder to checked ONNX files, INT8
quantised encoders for CPU, TensorRT engines, each with a metadata JSON beside it.

``export_bundle(out, teacher_sources("vit_t", ckpt))`` writes a folder that
:class:`gms_models.runtime.BundlePredictor` segments with, without PyTorch.
"""

from gms_models.export.bundle import BundleResult, check_destination, export_bundle
from gms_models.export.checked import ExportResult, export_checked_onnx
from gms_models.export.errors import EngineBuildError, ExportError, ParityError
from gms_models.export.metadata import SourceCheckpoint, library_versions, read_metadata
from gms_models.export.onnx_decoder import SamPromptDecoder, export_decoder_onnx
from gms_models.export.onnx_encoder import default_parity_image, export_encoder_onnx
from gms_models.export.onnx_graph import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, check_opset
from gms_models.export.parity import ParityReport, relative_l2
from gms_models.export.quantize import quantize_encoder_int8
from gms_models.export.sources import ExportSources, student_sources, teacher_sources

__all__ = [
    "DEFAULT_OPSET",
    "MAX_OPSET",
    "MIN_OPSET",
    "BundleResult",
    "EngineBuildError",
    "ExportError",
    "ExportResult",
    "ExportSources",
    "ParityError",
    "ParityReport",
    "SamPromptDecoder",
    "SourceCheckpoint",
    "check_destination",
    "check_opset",
    "default_parity_image",
    "export_bundle",
    "export_checked_onnx",
    "export_decoder_onnx",
    "export_encoder_onnx",
    "library_versions",
    "quantize_encoder_int8",
    "read_metadata",
    "relative_l2",
    "student_sources",
    "teacher_sources",
]
