"""Standalone segmentation with exported files only (ONNX Runtime or TensorRT, numpy, PIL).

Nothing here imports torch or the PyTorch model code, so an edge computer needs only
``onnxruntime`` (or ``tensorrt`` + ``cuda-python``), numpy and Pillow::

    predictor = BundlePredictor("export/gmf_2282")
    predictor.set_image(rgb)
    prediction = predictor.predict_batch(boxes=np.array([[x0, y0, x1, y1]]))
"""

from gms_models.runtime.errors import BackendUnavailableError, BundleError
from gms_models.runtime.manifest import (
    BUNDLE_FORMAT,
    MANIFEST_FILE,
    Artifact,
    BundleManifest,
    metadata_path,
)
from gms_models.runtime.predictor import BundlePredictor
from gms_models.runtime.sessions import (
    OnnxRuntimeSession,
    OrtSettings,
    Session,
    TensorRTSession,
    import_tensorrt,
    open_session,
)

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST_FILE",
    "Artifact",
    "BackendUnavailableError",
    "BundleError",
    "BundleManifest",
    "BundlePredictor",
    "OnnxRuntimeSession",
    "OrtSettings",
    "Session",
    "TensorRTSession",
    "import_tensorrt",
    "metadata_path",
    "open_session",
]
