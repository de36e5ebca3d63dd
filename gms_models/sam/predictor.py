"""``SamPredictor``: embed an image once, then predict masks for many prompts.

Same API and numerics as the official MobileSAM/SAM predictor (``set_image``, ``predict``), plus
``set_features`` (reuse an embedding computed earlier) and ``predict_batch`` (N prompts on one
image in one decoder call — e.g. every box of an image). Prompts are in original-image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from gms_models.errors import DataError, ImageError, PromptError
from gms_models.prompts import PromptBatch, validate_prompts
from gms_models.sam.sam import EMBED_DIM, PATCH_STRIDE, Sam
from gms_models.sam.transforms import (
    preprocess_shape,
    resize_longest_side,
    scale_boxes,
    scale_coords,
)

# Upsampling many masks to S×S at once can take gigabytes; bound each chunk to ~128 MiB.
_POSTPROCESS_CHUNK_FLOATS = 1 << 25


@dataclass(frozen=True)
class Prediction:
    """Masks for N prompts with C masks each (C = 3 with multimask output, else 1)."""

    masks: np.ndarray  # (N, C, H, W) bool, or float32 logits with return_logits
    iou_predictions: np.ndarray  # (N, C) float32
    low_res_logits: np.ndarray  # (N, C, S/4, S/4) float32


class PromptPredictor(Protocol):
    """What the segment command needs from a predictor (PyTorch here, ONNX elsewhere)."""

    def set_image(self, image: np.ndarray) -> None: ...

    def predict_batch(
        self,
        boxes: np.ndarray | None = None,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction: ...


def check_rgb_image(image: np.ndarray) -> None:
    """Raise :class:`ImageError` unless ``image`` is a non-empty H×W×3 uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ImageError(f"image must be an H×W×3 uint8 RGB array, got {kind}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"image must be an H×W×3 uint8 RGB array, got shape {image.shape}")


class SamPredictor:
    """Holds one image's embedding and decodes prompts against it."""

    def __init__(self, sam: Sam) -> None:
        self.model = sam
        self.features: torch.Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    @property
    def img_size(self) -> int:
        return self.model.img_size

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def is_image_set(self) -> bool:
        return self.features is not None

    def reset_image(self) -> None:
        self.features = self.original_size = self.input_size = None

    def prepare_image(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """The encoder input (1,3,S,S) float32 of an H×W×3 uint8 RGB image, and its input size."""
        check_rgb_image(image)
        resized = resize_longest_side(image, self.img_size)
        chw = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        return self.model.preprocess(chw), (resized.shape[0], resized.shape[1])

    @torch.inference_mode()
    def set_image(self, image: np.ndarray) -> None:
        """Embed an H×W×3 uint8 RGB image (resize, normalise, pad, run the image encoder)."""
        x, input_size = self.prepare_image(image)
        self.features = self.model.image_encoder(x)
        self.original_size = (image.shape[0], image.shape[1])
        self.input_size = input_size

    def set_features(
        self,
        features: torch.Tensor | np.ndarray,
        original_size: tuple[int, int],
    ) -> None:
        """Use an embedding computed earlier (e.g. by ``gms embed``) for an image of that size."""
        feats = torch.as_tensor(features)
        grid = self.img_size // PATCH_STRIDE
        expected = (1, EMBED_DIM, grid, grid)
        if tuple(feats.shape) != expected:
            raise DataError(f"image features must have shape {expected}, got {tuple(feats.shape)}")
        h, w = int(original_size[0]), int(original_size[1])
        if h <= 0 or w <= 0:
            raise ImageError(f"original image size must be positive, got {original_size}")
        self.features = feats.to(device=self.device, dtype=torch.float32)
        self.original_size = (h, w)
        self.input_size = preprocess_shape(h, w, self.img_size)

    def get_image_embedding(self) -> torch.Tensor:
        self._require_image()
        assert self.features is not None
        return self.features

    def _require_image(self) -> None:
        if not self.is_image_set:
            raise RuntimeError("set an image with set_image() or set_features() before predicting")

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One prompt, as the official predictor: masks (C,H,W), IoU (C,), low-res (C,256,256).

        point_coords (K, 2) with point_labels (K,); box (4,) xyxy; mask_input (1, 256, 256).
        """
        if box is not None and np.asarray(box).size != 4:
            raise PromptError(f"predict() takes one box of 4 numbers x0,y0,x1,y1, got {box!r}")
        points = None if point_coords is None else np.asarray(point_coords)[None]
        labels = None if point_labels is None else np.asarray(point_labels)[None]
        boxes = None if box is None else np.asarray(box).reshape(1, 4)
        masks = None if mask_input is None else np.asarray(mask_input)[None]
        if points is not None and points.ndim != 3:
            raise PromptError(f"point_coords must have shape (K, 2), got {np.shape(point_coords)}")
        pred = self.predict_batch(boxes, points, labels, masks, multimask_output, return_logits)
        return pred.masks[0], pred.iou_predictions[0], pred.low_res_logits[0]

    @torch.inference_mode()
    def predict_batch(
        self,
        boxes: np.ndarray | None = None,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Prediction:
        """N prompts on the current image in one decoder call.

        boxes (N, 4) xyxy and/or points (N, K, 2) with labels (N, K) (1 foreground, 0
        background, -1 padding for prompts with fewer points); mask_input (N or 1, 1, 256, 256).
        """
        self._require_image()
        assert self.original_size is not None and self.input_size is not None
        prompts = validate_prompts(
            self.original_size,
            boxes=boxes,
            points=points,
            labels=labels,
            mask_input=mask_input,
            mask_size=self.img_size // 4,
        )
        low_res, iou = self._decode(prompts, multimask_output)
        masks = self._postprocess(low_res, return_logits)
        return Prediction(masks, iou.cpu().numpy(), low_res.cpu().numpy())

    def _decode(
        self, prompts: PromptBatch, multimask_output: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.original_size is not None
        dev = self.device
        coords = labels = boxes = masks = None
        if prompts.points is not None:
            scaled = scale_coords(prompts.points, self.original_size, self.img_size)
            coords = torch.as_tensor(scaled, dtype=torch.float32, device=dev)
            labels = torch.as_tensor(prompts.labels, dtype=torch.int32, device=dev)
        if prompts.boxes is not None:
            scaled = scale_boxes(prompts.boxes, self.original_size, self.img_size)
            boxes = torch.as_tensor(scaled, dtype=torch.float32, device=dev)
        if prompts.mask_input is not None:
            masks = torch.as_tensor(prompts.mask_input, dtype=torch.float32, device=dev)
        return self.model.decode(
            self.get_image_embedding(), coords, labels, boxes, masks, multimask_output
        )

    def _postprocess(self, low_res: torch.Tensor, return_logits: bool) -> np.ndarray:
        assert self.original_size is not None and self.input_size is not None
        n, c = low_res.shape[:2]
        step = max(1, _POSTPROCESS_CHUNK_FLOATS // (c * self.img_size * self.img_size))
        h, w = self.original_size
        out = np.empty((n, c, h, w), dtype=np.float32 if return_logits else np.bool_)
        for start in range(0, n, step):
            logits = self.model.postprocess_masks(
                low_res[start : start + step], self.input_size, self.original_size
            )
            chunk = logits if return_logits else logits > self.model.mask_threshold
            out[start : start + step] = chunk.cpu().numpy()
        return out
