"""The torch-free geometry against the reference encoder input and the PyTorch model's mask
upsampling; prompt checks for both predictors; prompts as the exported decoder's labelled points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gms_models.errors import PromptError
from gms_models.geometry import (
    bilinear_matrix,
    encode_prompt_points,
    encoder_input,
    postprocess_masks,
    scale_boxes,
    scale_coords,
    validate_prompts,
)
from gms_models.image_io import load_rgb
from gms_models.runtime import BundlePredictor
from gms_models.sam import build_sam
from tests.tolerances import BILINEAR_WEIGHTS_ATOL, UPSAMPLED_LOGITS_ATOL

IMAGE_ID = "000000104455"
SIZE = (100, 200)  # H, W

BAD_PROMPTS = {
    "inverted box": {"boxes": [[50, 40, 10, 60]]},
    "box outside": {"boxes": [[0, 0, 250, 50]]},
    "nan point": {"points": [[[np.nan, 3]]], "labels": [[1]]},
    "point outside": {"points": [[[10, 120]]], "labels": [[1]]},
    "labels missing": {"points": [[[10, 20]]]},
    "label 2": {"points": [[[10, 20]]], "labels": [[2]]},
    "labels shape": {"points": [[[10, 20], [3, 4]]], "labels": [[1]]},
    "only padding": {"points": [[[10, 20]]], "labels": [[-1]]},
    "empty": {},
    "box/point count": {
        "boxes": [[1, 1, 5, 5], [2, 2, 6, 6]],
        "points": [[[3, 3]]],
        "labels": [[1]],
    },
    "mask shape": {"boxes": [[1, 1, 5, 5]], "mask_input": np.zeros((1, 1, 64, 64))},
}


def test_encoder_input_reproduces_the_reference_tensor(
    coco_mini: Path, mobile_sam_ref: Path
) -> None:
    meta = json.loads((mobile_sam_ref / f"{IMAGE_ID}_encoder_input_meta.json").read_text())
    x, input_size = encoder_input(load_rgb(coco_mini / "val2017" / f"{IMAGE_ID}.jpg"), 1024)
    assert x.shape == (1, 3, 1024, 1024) and x.dtype == np.float32
    assert list(input_size) == meta["input_size"]
    assert float(x.astype(np.float64).sum()) == meta["float32_stats"]["sum_float64"]
    with np.load(mobile_sam_ref / f"{IMAGE_ID}_prompts.npz") as npz:
        resized = npz["resized_image_uint8"]
    h, w = resized.shape[:2]
    mean = np.array([123.675, 116.28, 103.53], np.float32)
    std = np.array([58.395, 57.12, 57.375], np.float32)
    expected = (resized.astype(np.float32) - mean) / std
    np.testing.assert_array_equal(x[0, :, :h, :w], expected.transpose(2, 0, 1))
    assert not x[0, :, h:, :].any() and not x[0, :, :, w:].any()


@pytest.mark.parametrize(("in_size", "out_size"), [(256, 1024), (768, 480), (7, 5), (5, 13)])
def test_bilinear_matrix_matches_torch_interpolate(in_size: int, out_size: int) -> None:
    x = torch.randn(1, 1, in_size, 4, generator=torch.Generator().manual_seed(0))
    want = F.interpolate(x, (out_size, 4), mode="bilinear", align_corners=False)[0, 0].numpy()
    got = bilinear_matrix(in_size, out_size) @ x[0, 0].numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, atol=BILINEAR_WEIGHTS_ATOL)


@pytest.mark.parametrize(
    ("input_size", "original_size"), [((768, 1024), (480, 640)), ((1024, 682), (500, 333))]
)
def test_postprocess_matches_the_torch_model(
    input_size: tuple[int, int], original_size: tuple[int, int]
) -> None:
    sam = build_sam(image_encoder=torch.nn.Identity(), img_size=1024)
    logits = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    want = sam.postprocess_masks(logits, input_size, original_size).numpy()
    got = postprocess_masks(logits.numpy(), input_size, original_size, 1024)
    assert got.shape == want.shape == (2, 3, *original_size)
    np.testing.assert_allclose(got, want, atol=UPSAMPLED_LOGITS_ATOL)
    flips = (got > 0) != (want > 0)
    assert np.abs(want[flips]).max(initial=0.0) < UPSAMPLED_LOGITS_ATOL
    masks = postprocess_masks(logits.numpy(), input_size, original_size, 1024, threshold=0.0)
    assert masks.dtype == np.bool_
    np.testing.assert_array_equal(masks, got > 0)


def test_coordinates_scale_as_the_official_transform() -> None:
    """(x, y) times (new_w / old_w, new_h / old_h) in float64: 333x500 resizes to 682x1024."""
    coords = np.array([[[10.5, 20.25], [332.9, 499.0]]], np.float32)
    want = coords.astype(np.float64) * np.array([682 / 333, 1024 / 500])
    np.testing.assert_array_equal(scale_coords(coords, (500, 333), 1024), want.astype(np.float32))
    boxes = coords.reshape(1, 4)
    np.testing.assert_array_equal(
        scale_boxes(boxes, (500, 333), 1024), want.reshape(1, 4).astype(np.float32)
    )


@pytest.mark.parametrize("case", sorted(BAD_PROMPTS))
def test_bad_prompts_fail_alike_for_both_predictors(case: str) -> None:
    with pytest.raises(PromptError) as torch_error:
        validate_prompts(SIZE, **BAD_PROMPTS[case])
    with pytest.raises(PromptError) as runtime_error:
        validate_prompts(SIZE, allow_mask_only=False, **BAD_PROMPTS[case])
    assert str(runtime_error.value).split()[0] == str(torch_error.value).split()[0]


def test_mask_only_prompt_is_refused_by_the_runtime_with_a_reason() -> None:
    mask = np.zeros((1, 1, 256, 256))
    assert validate_prompts(SIZE, mask_input=mask).mask_input is not None
    with pytest.raises(PromptError, match="mask input alone is not enough"):
        validate_prompts(SIZE, mask_input=mask, allow_mask_only=False)
    predictor = BundlePredictor(1024, None, {})
    predictor.set_features(np.zeros((1, 256, 64, 64), np.float32), SIZE)
    with pytest.raises(PromptError, match="mask input alone is not enough"):
        predictor.predict_batch(mask_input=mask)


def test_points_get_a_padding_point_and_boxes_two_corners() -> None:
    points = np.array([[[1, 2], [3, 4]], [[5, 6], [0, 0]]], np.float32)
    labels = np.array([[1, 0], [1, -1]], np.float32)
    coords, point_labels = encode_prompt_points(points, labels, None)
    np.testing.assert_array_equal(coords[:, :2], points)
    np.testing.assert_array_equal(coords[:, 2], 0)
    np.testing.assert_array_equal(point_labels, [[1, 0, -1], [1, -1, -1]])

    boxes = np.array([[10, 20, 30, 40], [1, 2, 3, 4]], np.float32)
    coords, point_labels = encode_prompt_points(points, labels, boxes)
    np.testing.assert_array_equal(coords[:, 2:], boxes.reshape(2, 2, 2))
    np.testing.assert_array_equal(point_labels, [[1, 0, 2, 3], [1, -1, 2, 3]])
    coords, point_labels = encode_prompt_points(None, None, boxes[:1])
    np.testing.assert_array_equal(coords, [[[10, 20], [30, 40]]])
    np.testing.assert_array_equal(point_labels, [[2, 3]])
