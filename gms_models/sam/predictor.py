"""``SamPredictor``: embed an image once, then predict masks for many prompts.

Same API and numerics as the official MobileSAM/SAM predictor (``set_image``, ``predict``), plus
``set_features`` (reuse an embedding computed earlier) and ``predict_batch`` (N prompts on one
image in one decoder call — e.g. every box of an image). Prompts are in original-image pixels.
"""

from __future__ import annotations

import numpy as np
import torch

from gms_models.errors import PromptError
from gms_models.geometry import (
    MASK_THRESHOLD,
    Prediction,
    PromptBatch,
    check_features,
    encoder_input,
    scale_boxes,
    scale_coords,
    validate_prompts,
)
from gms_models.sam.sam import Sam

# Upsampling many masks to S×S at once can take gigabytes; bound each chunk to ~128 MiB.
_POSTPROCESS_CHUNK_FLOATS = 1 << 25


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
        x, input_size = encoder_input(image, self.img_size)
        return torch.from_numpy(x).to(self.device), input_size

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
        self.original_size, self.input_size = check_features(
            tuple(feats.shape), original_size, self.img_size
        )
        self.features = feats.to(device=self.device, dtype=torch.float32)

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
            coords = torch.as_tensor(scaled, device=dev)
            labels = torch.as_tensor(prompts.labels, dtype=torch.int32, device=dev)
        if prompts.boxes is not None:
            scaled = scale_boxes(prompts.boxes, self.original_size, self.img_size)
            boxes = torch.as_tensor(scaled, device=dev)
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
            chunk = logits if return_logits else logits > MASK_THRESHOLD
            out[start : start + step] = chunk.cpu().numpy()
        return out
