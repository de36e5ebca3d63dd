"""The torch-free predictor interface: embed one image, then decode many prompts against it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from gms_models.errors import DataError, ImageError
from gms_models.geometry import (
    EMBED_DIM,
    PATCH_STRIDE,
    PIXEL_MEAN,
    PIXEL_STD,
    PromptBatch,
    encoder_input,
    preprocess_shape,
    scale_boxes,
    scale_coords,
    validate_prompts,
)


class _Array(Protocol):
    @property
    def shape(self) -> tuple[int, ...]: ...


Features = TypeVar("Features", bound=_Array)  # the embedding: a torch tensor or a numpy array


@dataclass(frozen=True)
class Prediction:
    """N prompts' C masks each (3 with multimask output, else 1)."""

    masks: np.ndarray  # (N, C, H, W) bool, or float32 logits with return_logits
    iou_predictions: np.ndarray  # (N, C) float32
    low_res_logits: np.ndarray  # (N, C, S/4, S/4) float32


class PromptPredictor(ABC, Generic[Features]):
    allow_mask_only = True  # whether a mask input alone is a prompt

    def __init__(
        self,
        img_size: int,
        pixel_mean: Sequence[float] = PIXEL_MEAN,
        pixel_std: Sequence[float] = PIXEL_STD,
    ) -> None:
        self.img_size = img_size
        self.pixel_mean = tuple(pixel_mean)
        self.pixel_std = tuple(pixel_std)
        self.features: Features | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    @abstractmethod
    def _embed(self, x: np.ndarray) -> Features:
        """The (1,256,S/16,S/16) embedding of a (1,3,S,S) float32 input."""

    @abstractmethod
    def _as_features(self, features: object) -> Features: ...

    @abstractmethod
    def _decode(
        self, features: Features, prompts: PromptBatch, multimask_output: bool, return_logits: bool
    ) -> Prediction:
        """Masks for ``prompts`` already in the S×S input frame."""

    def set_image(self, image: np.ndarray) -> None:
        x, input_size = encoder_input(image, self.img_size, self.pixel_mean, self.pixel_std)
        self.features = self._embed(x)
        self.original_size = (image.shape[0], image.shape[1])
        self.input_size = input_size

    def set_features(self, features: object, original_size: tuple[int, int]) -> None:
        """Use an embedding computed earlier (``gms embed``) for an image of that size."""
        feats = self._as_features(features)
        grid = self.img_size // PATCH_STRIDE
        expected = (1, EMBED_DIM, grid, grid)
        shape = tuple(feats.shape)
        if shape != expected:
            raise DataError(f"image features must have shape {expected}, got {shape}")
        h, w = int(original_size[0]), int(original_size[1])
        if h <= 0 or w <= 0:
            raise ImageError(f"original image size must be positive, got {original_size}")
        self.features = feats
        self.original_size = (h, w)
        self.input_size = preprocess_shape(h, w, self.img_size)

    def get_image_embedding(self) -> Features:
        if self.features is None:
            raise RuntimeError("set an image with set_image() or set_features() before predicting")
        return self.features

    def predict_batch(
        self,
        boxes: np.ndarray | None = None,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        """N prompts in original pixels (boxes (N,4) xyxy, points (N,K,2) with labels 1, 0 or -1
        padding, mask_input (N or 1,1,S/4,S/4) logits) in one decoder call."""
        features = self.get_image_embedding()
        size = self.original_size
        assert size is not None
        prompts = validate_prompts(
            size,
            boxes=boxes,
            points=points,
            labels=labels,
            mask_input=mask_input,
            mask_size=self.img_size // 4,
            allow_mask_only=self.allow_mask_only,
        )
        in_frame = PromptBatch(
            None if prompts.boxes is None else scale_boxes(prompts.boxes, size, self.img_size),
            None if prompts.points is None else scale_coords(prompts.points, size, self.img_size),
            prompts.labels,
            prompts.mask_input,
        )
        return self._decode(features, in_frame, multimask_output, return_logits)
