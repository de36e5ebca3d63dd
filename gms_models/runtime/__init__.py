"""Segmentation with exported files only, without torch: onnxruntime or TensorRT, numpy, Pillow."""

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
