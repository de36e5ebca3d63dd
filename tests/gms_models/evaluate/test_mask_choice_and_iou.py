"""Choosing the best mask per prompt, and the IoU convention (empty masks included)."""

from __future__ import annotations

import numpy as np
import pytest

from gms_models.data.coco import CocoInstances
from gms_models.errors import ConfigError
from gms_models.evaluate.coco_boxes import clip_box
from gms_models.evaluate.masks import mask_iou, predict_best
from gms_models.sam import Sam, SamPredictor


def test_mask_iou_by_hand() -> None:
    a = np.zeros((4, 3, 4), dtype=bool)
    b = np.zeros((4, 3, 4), dtype=bool)
    a[0, 0, :2] = True  # 2 pixels
    b[0, 0, 1:4] = True  # 3 pixels, 1 shared: 1 / 4
    a[1, 1, 1] = True  # disjoint: 0
    b[1, 2, 2] = True
    a[2] = b[2] = True  # identical: 1
    # pair 3: both empty, they agree: 1
    np.testing.assert_allclose(mask_iou(a, b), [0.25, 0.0, 1.0, 1.0])
    empty_reference = mask_iou(a[:1], np.zeros_like(a[:1]))
    assert empty_reference.tolist() == [0.0]
    with pytest.raises(ValueError, match="shapes differ"):
        mask_iou(a, b[:, :2])


def test_clip_box_keeps_boxes_inside_the_image() -> None:
    assert clip_box((-0.5, 2.0, 640.4, 480.0), 640, 480) == (0.0, 2.0, 640.0, 480.0)
    assert clip_box((10.0, 20.0, 30.0, 40.0), 640, 480) == (10.0, 20.0, 30.0, 40.0)


def test_best_mask_by_predicted_iou(teacher_fast: Sam, coco_two: CocoInstances) -> None:
    image = coco_two[0]
    predictor = SamPredictor(teacher_fast)
    predictor.set_image(image.load())
    boxes = np.array([clip_box(a.box_xyxy, image.width, image.height) for a in image.annotations])
    boxes = boxes[:5].astype(np.float32)

    multi = predictor.predict_batch(boxes=boxes, multimask_output=True)
    single = predictor.predict_batch(boxes=boxes, multimask_output=False)
    chosen = predict_best(predictor, boxes=boxes)
    best = multi.iou_predictions.argmax(axis=1)
    assert chosen.tokens.tolist() == (best + 1).tolist()
    for i, k in enumerate(best):
        assert np.array_equal(chosen.masks[i], multi.masks[i, k])
        assert chosen.predicted_iou[i] == multi.iou_predictions[i, k]

    only_single = predict_best(predictor, boxes=boxes, candidates="single")
    assert only_single.tokens.tolist() == [0] * len(boxes)
    assert np.array_equal(only_single.masks, single.masks[:, 0])

    everything = predict_best(predictor, boxes=boxes, candidates="all")
    all_iou = np.concatenate([single.iou_predictions, multi.iou_predictions], axis=1)
    assert everything.tokens.tolist() == all_iou.argmax(axis=1).tolist()
    np.testing.assert_array_equal(everything.predicted_iou, all_iou.max(axis=1))

    with pytest.raises(ConfigError, match="'best'"):
        predict_best(predictor, boxes=boxes, candidates="best")  # type: ignore[arg-type]
