"""SamPredictor: prompt validation, batched prompts, features given instead of an image."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from gms_models.errors import DataError, ImageError, PromptError
from gms_models.sam import Sam, SamPredictor, build_sam_vit_t
from tests.tolerances import SEED0_IOU_ATOL, SEED0_LOGITS_ATOL

H, W = 480, 640


@pytest.fixture(scope="module")
def small_sam() -> Sam:
    torch.manual_seed(0)
    return build_sam_vit_t(img_size=256)


@pytest.fixture
def predictor(small_sam: Sam) -> SamPredictor:
    """A predictor on random features of a 480x640 image (no encoder run needed)."""
    pred = SamPredictor(small_sam)
    gen = torch.Generator().manual_seed(0)
    pred.set_features(torch.randn((1, 256, 16, 16), generator=gen), (H, W))
    return pred


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "empty prompt"),
        ({"box": [100, 50, 90, 200]}, r"box 0 \[100.0, 50.0, 90.0, 200.0\] has x1 < x0"),
        ({"box": [10, 300, 90, 200]}, r"box 0 \[10.0, 300.0, 90.0, 200.0\] has .* y1 < y0"),
        ({"box": [10, 20, 641, 200]}, r"box 0 .* lies outside the 640x480 image"),
        ({"box": [-1, 20, 100, 200]}, r"box 0 \[\[-1.0, 20.0\], \[100.0, 200.0\]\] lies out"),
        ({"box": [10, 20, 30, float("nan")]}, "NaN or infinite"),
        ({"box": [10, 20, 30]}, r"one box of 4 numbers x0,y0,x1,y1, got \[10, 20, 30\]"),
        ({"box": [[1, 2, 3, "a"]]}, "box must be numeric"),
        ({"box": "10,20,30,40"}, "4 numbers x0,y0,x1,y1, got '10,20,30,40'"),
        ({"point_coords": [[700, 10]], "point_labels": [1]}, r"points of prompt 0 .* outside"),
        ({"point_coords": [[10, 481]], "point_labels": [1]}, r"\[\[10.0, 481.0\]\] lies out"),
        ({"point_coords": [[10, 10]]}, "point labels are missing"),
        ({"point_coords": [[10, 10], [5, 5]], "point_labels": [1]}, r"shape \(1, 1\) but"),
        ({"point_coords": [[10, 10]], "point_labels": [2]}, r"must be 1 .*got \[\[2.0\]\]"),
        ({"point_coords": [10, 10], "point_labels": [1]}, r"shape \(K, 2\)"),
        ({"point_coords": np.zeros((0, 2)), "point_labels": []}, r"K >= 1"),
        ({"point_coords": [[10, 10]], "point_labels": [-1]}, "only padding points"),
        ({"box": [1, 2, 3, 4], "mask_input": np.zeros((1, 256, 256))}, r"\(N, 1, 64, 64\)"),
    ],
)
def test_bad_prompt_is_refused_with_its_value(
    predictor: SamPredictor, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PromptError, match=message):
        predictor.predict(**kwargs)


def test_batch_shapes_must_agree(predictor: SamPredictor) -> None:
    with pytest.raises(PromptError, match="2 boxes but 3 point prompts"):
        predictor.predict_batch(
            boxes=np.array([[0, 0, 10, 10], [5, 5, 20, 20]]),
            points=np.ones((3, 1, 2)),
            labels=np.ones((3, 1)),
        )
    with pytest.raises(PromptError, match="mask input holds 2 masks for 3 prompts"):
        predictor.predict_batch(
            boxes=np.tile([0, 0, 10, 10], (3, 1)), mask_input=np.zeros((2, 1, 64, 64))
        )
    with pytest.raises(PromptError, match="labels were given without point coordinates"):
        predictor.predict_batch(boxes=np.array([[0, 0, 10, 10]]), labels=np.ones((1, 1)))


def test_box_on_the_image_border_is_accepted(predictor: SamPredictor) -> None:
    masks, iou, low_res = predictor.predict(box=np.array([0, 0, W, H]), multimask_output=False)
    assert masks.shape == (1, H, W) and iou.shape == (1,) and low_res.shape == (1, 64, 64)


def test_predict_batch_equals_one_prompt_at_a_time(predictor: SamPredictor) -> None:
    """Mixed prompts in one decoder call; label -1 pads the prompt with fewer points."""
    boxes = np.array([[10, 20, 300, 400], [200, 100, 600, 470]], dtype=np.float32)
    points = np.array([[[50, 60], [250, 300]], [[400, 200], [0, 0]]], dtype=np.float32)
    labels = np.array([[1, 0], [1, -1]], dtype=np.int32)
    mask_input = np.random.default_rng(0).normal(size=(2, 1, 64, 64)).astype(np.float32)
    batch = predictor.predict_batch(boxes, points, labels, mask_input, multimask_output=True)
    assert batch.masks.shape == (2, 3, H, W) and batch.iou_predictions.shape == (2, 3)
    for i in range(2):
        masks, iou, low_res = predictor.predict(
            points[i], labels[i], boxes[i], mask_input[i], multimask_output=True
        )
        np.testing.assert_allclose(batch.iou_predictions[i], iou, rtol=0, atol=SEED0_IOU_ATOL)
        np.testing.assert_allclose(batch.low_res_logits[i], low_res, rtol=0, atol=SEED0_LOGITS_ATOL)
        assert (batch.masks[i] != masks).mean() < 1e-4


def test_return_logits_thresholds_to_the_masks(predictor: SamPredictor) -> None:
    box = np.array([100, 100, 400, 300])
    masks = predictor.predict(box=box)[0]
    logits = predictor.predict(box=box, return_logits=True)[0]
    assert logits.dtype == np.float32 and np.array_equal(logits > 0, masks)


def test_predicting_without_an_image_is_an_error(small_sam: Sam) -> None:
    with pytest.raises(RuntimeError, match="set an image"):
        SamPredictor(small_sam).predict(box=[0, 0, 10, 10])


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((32, 32), dtype=np.uint8),
        np.zeros((32, 32, 4), dtype=np.uint8),
        np.zeros((32, 32, 3), dtype=np.float32),
        np.zeros((0, 32, 3), dtype=np.uint8),
    ],
)
def test_set_image_needs_rgb_uint8(small_sam: Sam, image: np.ndarray) -> None:
    with pytest.raises(ImageError, match="H×W×3 uint8 RGB"):
        SamPredictor(small_sam).set_image(image)


def test_set_features_checks_the_shape(small_sam: Sam) -> None:
    with pytest.raises(DataError, match=r"\(1, 256, 16, 16\), got \(1, 256, 64, 64\)"):
        SamPredictor(small_sam).set_features(np.zeros((1, 256, 64, 64), np.float32), (H, W))


def test_set_features_reproduces_set_image(
    embedded: Callable[[str], SamPredictor],
    reference_outputs: Callable[[str], dict[str, np.ndarray]],
) -> None:
    """Features computed earlier (as ``gms embed`` saves them) give the same masks."""
    ref = reference_outputs("000000243204")
    source = embedded("000000243204")
    predictor = SamPredictor(source.model)
    predictor.set_features(source.get_image_embedding().numpy(), tuple(ref["original_size"]))
    assert predictor.input_size == source.input_size
    for a, b in zip(
        predictor.predict(box=ref["box_B__box"]), source.predict(box=ref["box_B__box"]), strict=True
    ):
        assert np.array_equal(a, b)
