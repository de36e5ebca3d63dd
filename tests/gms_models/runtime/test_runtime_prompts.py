"""Prompt checks of the runtime fail like the PyTorch predictor's, and prompts become the
decoder's labelled points as SAM's prompt encoder lays them out."""

from __future__ import annotations

import numpy as np
import pytest

from gms_models.errors import PromptError
from gms_models.prompts import validate_prompts
from gms_models.runtime.prompts import check_prompts, encode_prompt_points

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


@pytest.mark.parametrize("case", sorted(BAD_PROMPTS))
def test_bad_prompts_fail_like_the_torch_predictor(case: str) -> None:
    with pytest.raises(PromptError) as torch_error:
        validate_prompts(SIZE, **BAD_PROMPTS[case])
    with pytest.raises(PromptError) as runtime_error:
        check_prompts(SIZE, **BAD_PROMPTS[case])
    assert str(runtime_error.value).split()[0] == str(torch_error.value).split()[0]


def test_mask_only_prompt_is_refused_with_a_reason() -> None:
    with pytest.raises(PromptError, match="mask input alone is not enough"):
        check_prompts(SIZE, mask_input=np.zeros((1, 1, 256, 256)))


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
