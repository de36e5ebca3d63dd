"""The official SAM predictor's API and numerics, plus ``set_features`` and ``predict_batch``."""

from __future__ import annotations

import numpy as np
import torch

from gms_models.errors import PromptError
from gms_models.geometry import MASK_THRESHOLD, PromptBatch
from gms_models.prompt_predictor import Prediction, PromptPredictor
from gms_models.sam.sam import Sam

# Upsampling many masks to S×S at once can take gigabytes; bound each chunk to ~128 MiB.
_POSTPROCESS_CHUNK_FLOATS = 1 << 25


class SamPredictor(PromptPredictor[torch.Tensor]):
    def __init__(self, sam: Sam) -> None:
        super().__init__(sam.img_size)
        self.model = sam

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.inference_mode()
    def _embed(self, x: np.ndarray) -> torch.Tensor:
        features: torch.Tensor = self.model.image_encoder(torch.from_numpy(x).to(self.device))
        return features

    def _as_features(self, features: object) -> torch.Tensor:
        return torch.as_tensor(features).to(device=self.device, dtype=torch.float32)

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One prompt as the official predictor: masks (C,H,W), IoU (C,), low-res (C,256,256)."""
        if box is not None and np.asarray(box).size != 4:
            raise PromptError(f"predict() takes one box of 4 numbers x0,y0,x1,y1, got {box!r}")
        points = None if point_coords is None else np.asarray(point_coords)[None]
        labels = None if point_labels is None else np.asarray(point_labels)[None]
        boxes = None if box is None else np.asarray(box).reshape(1, 4)
        masks = None if mask_input is None else np.asarray(mask_input)[None]
        if points is not None and points.ndim != 3:
            raise PromptError(f"point_coords must have shape (K, 2), got {points.shape[1:]}")
        pred = self.predict_batch(boxes, points, labels, masks, multimask_output, return_logits)
        return pred.masks[0], pred.iou_predictions[0], pred.low_res_logits[0]

    @torch.inference_mode()
    def _decode(
        self,
        features: torch.Tensor,
        prompts: PromptBatch,
        multimask_output: bool,
        return_logits: bool,
    ) -> Prediction:
        dev = self.device
        coords = labels = boxes = masks = None
        if prompts.points is not None:
            coords = torch.as_tensor(prompts.points, device=dev)
            labels = torch.as_tensor(prompts.labels, dtype=torch.int32, device=dev)
        if prompts.boxes is not None:
            boxes = torch.as_tensor(prompts.boxes, device=dev)
        if prompts.mask_input is not None:
            masks = torch.as_tensor(prompts.mask_input, dtype=torch.float32, device=dev)
        low_res, iou = self.model.decode(features, coords, labels, boxes, masks, multimask_output)
        masks_out = self._postprocess(low_res, return_logits)
        return Prediction(masks_out, iou.cpu().numpy(), low_res.cpu().numpy())

    def _postprocess(self, low_res: torch.Tensor, return_logits: bool) -> np.ndarray:
        assert self.original_size is not None and self.input_size is not None
        n, c = low_res.shape[:2]
        step = max(1, _POSTPROCESS_CHUNK_FLOATS // (c * self.img_size * self.img_size))
        h, w = self.original_size
        out: np.ndarray = np.empty((n, c, h, w), dtype=np.float32 if return_logits else np.bool_)
        for start in range(0, n, step):
            logits = self.model.postprocess_masks(
                low_res[start : start + step], self.input_size, self.original_size
            )
            chunk = logits if return_logits else logits > MASK_THRESHOLD
            out[start : start + step] = chunk.cpu().numpy()
        return out
