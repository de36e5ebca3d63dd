"""One mask per prompt from the decoder's four tokens (0 single-mask, 1-3 multimask):
``"multimask"`` (1-3, MobileSAM), ``"all"`` (0-3, nanosam's TensorRT decoder; a second call) or
``"single"``; the highest predicted IoU wins, ties to the lowest token. And mask IoU."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal, get_args

import numpy as np

from gms_models.errors import ConfigError
from gms_models.sam.predictor import SamPredictor

Candidates = Literal["multimask", "all", "single"]
CANDIDATES: tuple[str, ...] = get_args(Candidates)


@dataclass(frozen=True)
class ChosenMasks:
    masks: np.ndarray
    tokens: np.ndarray
    predicted_iou: np.ndarray


def check_candidates(candidates: str) -> Candidates:
    if candidates not in CANDIDATES:
        raise ConfigError(f"mask candidates must be one of {CANDIDATES}, got {candidates!r}")
    return candidates  # type: ignore[return-value]


def _pick(masks: np.ndarray, iou: np.ndarray, first_token: int) -> ChosenMasks:
    best = np.argmax(iou, axis=1)
    rows = np.arange(len(best))
    return ChosenMasks(masks[rows, best], best + first_token, iou[rows, best])


def predict_best(
    predictor: SamPredictor,
    *,
    boxes: np.ndarray | None = None,
    points: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    candidates: Candidates = "multimask",
) -> ChosenMasks:
    check_candidates(candidates)
    run = partial(predictor.predict_batch, boxes=boxes, points=points, labels=labels)
    if candidates == "single":
        single = run(multimask_output=False)
        return _pick(single.masks, single.iou_predictions, 0)
    multi = run(multimask_output=True)
    if candidates == "multimask":
        return _pick(multi.masks, multi.iou_predictions, 1)
    single = run(multimask_output=False)
    masks = np.concatenate([single.masks, multi.masks], axis=1)
    iou = np.concatenate([single.iou_predictions, multi.iou_predictions], axis=1)
    return _pick(masks, iou, 0)


def mask_iou(masks: np.ndarray, references: np.ndarray) -> np.ndarray:
    """IoU of each pair of (N, H, W) masks; two empty masks score 1.0."""
    if masks.shape != references.shape:
        raise ValueError(f"mask shapes differ: {masks.shape} vs {references.shape}")
    a = masks.reshape(len(masks), -1).astype(bool, copy=False)
    b = references.reshape(len(references), -1).astype(bool, copy=False)
    intersection = np.count_nonzero(a & b, axis=1)
    union = np.count_nonzero(a | b, axis=1)
    iou = np.ones(len(a), dtype=np.float64)
    nonempty = union > 0
    iou[nonempty] = intersection[nonempty] / union[nonempty]
    return iou
