"""Standalone segmentation with exported files only: nothing here imports torch, so an edge
computer needs only ``onnxruntime`` (or ``tensorrt`` + ``cuda-python``), numpy and Pillow."""

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
