"""What the two ONNX predictors share: sessions, float32 embeddings, SAM's ONNX decoder feed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gms_models.geometry import PIXEL_MEAN, PIXEL_STD, PromptBatch, encode_prompt_points
from gms_models.prompt_predictor import PromptPredictor
from gms_models.runtime.errors import BundleError
from gms_models.runtime.sessions import Session


class OnnxPromptPredictor(PromptPredictor[np.ndarray]):
    """``decoders``: a session per ``multimask_output``."""

    allow_mask_only = False  # the exported decoders always encode a point

    def __init__(
        self,
        img_size: int,
        encoder: Session | None,
        decoders: Mapping[bool, Session],
        *,
        pixel_mean: Sequence[float] = PIXEL_MEAN,
        pixel_std: Sequence[float] = PIXEL_STD,
        name: str = "exported model",
    ) -> None:
        super().__init__(img_size, pixel_mean, pixel_std)
        self.encoder = encoder
        self.decoders = dict(decoders)
        self.name = name

    def _decoder(self, multimask_output: bool, hint: str) -> Session:
        decoder = self.decoders.get(multimask_output)
        if decoder is None:
            kind = "multimask" if multimask_output else "single-mask"
            raise BundleError(f"{self.name} has no {kind} mask decoder; {hint}")
        return decoder

    def _as_features(self, features: object) -> np.ndarray:
        return np.asarray(features, dtype=np.float32)

    @staticmethod
    def decoder_feeds(
        features: np.ndarray, prompts: PromptBatch, mask_size: int
    ) -> dict[str, np.ndarray]:
        """The five inputs both decoder layouts share."""
        coords, point_labels = encode_prompt_points(prompts.points, prompts.labels, prompts.boxes)
        has_mask = prompts.mask_input is not None
        return {
            "image_embeddings": features,
            "point_coords": coords,
            "point_labels": point_labels,
            "mask_input": prompts.mask_input
            if prompts.mask_input is not None
            else np.zeros((1, 1, mask_size, mask_size), np.float32),
            "has_mask_input": np.array([float(has_mask)], np.float32),
        }
