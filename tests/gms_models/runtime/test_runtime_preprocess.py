"""The runtime's numpy pre/post-processing against the reference encoder input and the PyTorch
implementation in ``gms_models.sam``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gms_models.image_io import load_rgb
from gms_models.runtime.preprocess import (
    bilinear_matrix,
    encoder_input,
    postprocess_masks,
    scale_coords,
)
from gms_models.sam import transforms as torch_transforms
from tests.tolerances import BILINEAR_WEIGHTS_ATOL, UPSAMPLED_LOGITS_ATOL

IMAGE_ID = "000000104455"


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
def test_postprocess_matches_the_torch_path(
    input_size: tuple[int, int], original_size: tuple[int, int]
) -> None:
    logits = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    want = torch_transforms.postprocess_masks(logits, input_size, original_size, 1024).numpy()
    got = postprocess_masks(logits.numpy(), input_size, original_size, 1024)
    assert got.shape == want.shape == (2, 3, *original_size)
    np.testing.assert_allclose(got, want, atol=UPSAMPLED_LOGITS_ATOL)
    flips = (got > 0) != (want > 0)
    assert np.abs(want[flips]).max(initial=0.0) < UPSAMPLED_LOGITS_ATOL


def test_scale_coords_matches_the_torch_path() -> None:
    coords = np.array([[[10.5, 20.25], [332.9, 499.0]]], np.float32)
    want = torch_transforms.scale_coords(coords, (500, 333), 1024).astype(np.float32)
    np.testing.assert_array_equal(scale_coords(coords, (500, 333), 1024), want)
