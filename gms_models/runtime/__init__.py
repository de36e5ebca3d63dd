"""Standalone segmentation with exported files only (ONNX Runtime or TensorRT, numpy, PIL).

Nothing here imports torch or the PyTorch model code, so an edge computer needs only
``onnxruntime`` (or ``tensorrt`` + ``cuda-python``), numpy and Pillow: see :class:`BundlePredictor`.
"""

from gms_models.runtime.errors import BackendUnavailableError, BundleError
from gms_models.runtime.manifest import Artifact, BundleManifest
from gms_models.runtime.predictor import BundlePredictor
from gms_models.runtime.sessions import OnnxRuntimeSession, OrtSettings, Session, TensorRTSession

__all__ = [
    "Artifact",
    "BackendUnavailableError",
    "BundleError",
    "BundleManifest",
    "BundlePredictor",
    "OnnxRuntimeSession",
    "OrtSettings",
    "Session",
    "TensorRTSession",
]
