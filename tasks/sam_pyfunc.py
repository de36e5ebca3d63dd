"""The registered model's code: an MLflow pyfunc on the SAM-profile ONNX files. It imports neither
torch, Prefect nor ``tasks``. No ``from __future__ import annotations``: MLflow reads the
signature from ``predict``'s type hints, which must be real types."""

import base64
import binascii
import io
from typing import Any

import numpy as np
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel

PACKAGE_ARTIFACT = "package"


class Prompt(BaseModel):
    box: list[float] | None = None
    points: list[list[float]] | None = None
    labels: list[float] | None = None


class SegmentRequest(BaseModel):
    image: str | None = None
    image_array: list[list[list[int]]] | None = None
    prompts: list[Prompt]
    multimask: bool = False


def request_image(request: SegmentRequest) -> np.ndarray:
    """The request's H×W×3 uint8 RGB image; a bad one raises ``ValueError`` saying why."""
    if (request.image is None) == (request.image_array is None):
        raise ValueError("give exactly one of 'image' (base64 PNG/JPEG) or 'image_array'")
    if request.image_array is not None:
        array = np.asarray(request.image_array)
        if array.ndim != 3 or array.shape[2] != 3 or array.min() < 0 or array.max() > 255:
            raise ValueError(f"'image_array' must be H×W×3 values 0-255, got shape {array.shape}")
        return array.astype(np.uint8)
    assert request.image is not None  # exactly one of the two is given (checked above)
    try:
        data = base64.b64decode(request.image, validate=True)
        with Image.open(io.BytesIO(data)) as picture:
            return np.asarray(picture.convert("RGB"))
    except (binascii.Error, UnidentifiedImageError) as exc:
        raise ValueError(f"'image' is not a base64 PNG or JPEG: {exc}") from exc


class SamPackage(PythonModel):
    """Encoder + prompt decoder of the package's ``package`` artifact (a SAM-profile folder)."""

    def load_context(self, context: PythonModelContext) -> None:
        from gms_models.runtime.sam_onnx import SamOnnxPredictor

        self.predictor = SamOnnxPredictor.from_folder(context.artifacts[PACKAGE_ARTIFACT])

    # MLflow 3 derives the signature from these type hints (no context argument).
    def predict(  # type: ignore[override]
        self, model_input: list[SegmentRequest], params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        answers = []
        for request in model_input:
            if not request.prompts:
                raise ValueError("a request needs at least one prompt (a box and/or points)")
            self.predictor.set_image(request_image(request))
            masks, ious, logits = [], [], []
            pick = slice(None) if request.multimask else 0  # all three masks, or the one
            for prompt in request.prompts:
                prediction = self.predictor.predict_batch(
                    boxes=None if prompt.box is None else np.array([prompt.box]),
                    points=None if prompt.points is None else np.array([prompt.points]),
                    labels=np.array([prompt.labels]) if prompt.labels is not None else None,
                    multimask_output=request.multimask,
                )
                masks.append(prediction.masks[0, pick])
                ious.append(prediction.iou_predictions[0, pick])
                logits.append(prediction.low_res_logits[0, pick])
            answers.append(
                {
                    "masks": np.stack(masks),
                    "iou_predictions": np.array(ious, np.float32),
                    "low_res_logits": np.stack(logits),
                }
            )
        return answers


set_model(SamPackage())
