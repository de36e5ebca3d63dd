"""Our SAM against the official MobileSAM outputs stored in shared/reference/mobile_sam."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from gms_models.geometry import encoder_input, resize_longest_side
from gms_models.sam import Sam, SamPredictor
from tests.tolerances import (
    BN_FEATURES_ATOL,
    BN_IOU_ATOL,
    BN_LOGITS_ATOL,
    BN_MASK_LOGIT_BAND,
    SEED0_FEATURES_ATOL,
    SEED0_IOU_ATOL,
    SEED0_LOGITS_ATOL,
    SEED0_MASK_LOGIT_BAND,
)

IMAGE_IDS = ("000000104455", "000000243204", "000000020992")
PROMPT_NAMES = (
    "box_A",
    "box_B",
    "point_pos_A",
    "points_posB_neg",
    "box_A_single",
    "box_A_refine",
)


def prompt_kwargs(ref: dict[str, np.ndarray], name: str) -> dict[str, Any]:
    """``predict`` keyword arguments of a stored prompt, with the arrays exactly as stored."""

    def get(key: str) -> np.ndarray | None:
        return ref.get(f"{name}__{key}")

    return {
        "point_coords": get("point_coords"),
        "point_labels": get("point_labels"),
        "box": get("box"),
        "mask_input": get("mask_input"),
        "multimask_output": bool(ref[f"{name}__multimask_output"]),
    }


def assert_masks_match(
    masks: np.ndarray,
    expected: np.ndarray,
    logits: np.ndarray,
    where: str,
    band: float = SEED0_MASK_LOGIT_BAND,
) -> None:
    """Masks equal except where the upsampled logit is within ``band`` of the 0 threshold."""
    assert masks.shape == expected.shape and masks.dtype == np.bool_, where
    differ = masks != expected
    near_zero = np.abs(logits) <= band
    assert not (differ & ~near_zero).any(), (
        f"{where}: {int((differ & ~near_zero).sum())} mask pixels differ away from the threshold"
    )


def _image_entry(index: dict[str, Any], image_id: str) -> dict[str, Any]:
    return next(e for e in index["images"] if e["file"] == f"{image_id}.jpg")


@pytest.mark.parametrize("image_id", IMAGE_IDS)
def test_decoded_pixels_match_reference(
    image_id: str, image_rgb: Callable[[str], np.ndarray], fixtures_index: dict[str, Any]
) -> None:
    entry = _image_entry(fixtures_index, image_id)
    digest = hashlib.sha256(np.ascontiguousarray(image_rgb(image_id)).tobytes()).hexdigest()
    assert digest == entry["decoded_rgb_uint8_sha256"]


def test_resize_equals_reference_resized_image(
    image_rgb: Callable[[str], np.ndarray],
    reference_outputs: Callable[[str], dict[str, np.ndarray]],
) -> None:
    ref = reference_outputs("000000104455")["resized_image_uint8"]
    resized = resize_longest_side(image_rgb("000000104455"), 1024)
    assert resized.dtype == np.uint8 and resized.shape == ref.shape
    assert np.array_equal(resized, ref)


def test_encoder_input_equals_reference(
    teacher_sam: Sam, image_rgb: Callable[[str], np.ndarray], mobile_sam_ref: Path
) -> None:
    """The predictor's encoder input (``encoder_input``, as ``set_image`` runs it)."""
    x, input_size = encoder_input(image_rgb("000000104455"), teacher_sam.img_size)
    x = torch.from_numpy(x)
    meta = json.loads((mobile_sam_ref / "000000104455_encoder_input_meta.json").read_text())
    assert list(x.shape) == meta["shape"] and x.dtype == torch.float32
    assert list(input_size) == meta["input_size"]
    stats = meta["float32_stats"]
    assert x.double().sum().item() == pytest.approx(stats["sum_float64"], rel=1e-12, abs=0)
    assert x.min().item() == stats["min"] and x.max().item() == stats["max"]
    # The stored float16 copy is this tensor rounded to float16: equal bit for bit.
    f16 = np.load(mobile_sam_ref / "000000104455_encoder_input_f16.npy")
    assert np.array_equal(x.half().numpy(), f16)


@pytest.mark.parametrize("image_id", IMAGE_IDS)
def test_features_match_reference(
    image_id: str,
    embedded: Callable[[str], SamPredictor],
    reference_outputs: Callable[[str], dict[str, np.ndarray]],
) -> None:
    ref = reference_outputs(image_id)
    predictor = embedded(image_id)
    assert predictor.original_size == tuple(ref["original_size"])
    assert predictor.input_size == tuple(ref["input_size"])
    features = predictor.get_image_embedding().numpy()
    assert features.shape == (1, 256, 64, 64) and features.dtype == np.float32
    np.testing.assert_allclose(features, ref["features"], rtol=0, atol=SEED0_FEATURES_ATOL)


@pytest.mark.parametrize("name", PROMPT_NAMES)
@pytest.mark.parametrize("image_id", IMAGE_IDS)
def test_prompt_outputs_match_reference(
    image_id: str,
    name: str,
    embedded: Callable[[str], SamPredictor],
    reference_outputs: Callable[[str], dict[str, np.ndarray]],
) -> None:
    ref = reference_outputs(image_id)
    predictor = embedded(image_id)
    masks, iou, low_res = predictor.predict(**prompt_kwargs(ref, name))
    np.testing.assert_allclose(iou, ref[f"{name}__iou_predictions"], rtol=0, atol=SEED0_IOU_ATOL)
    np.testing.assert_allclose(
        low_res, ref[f"{name}__low_res_logits"], rtol=0, atol=SEED0_LOGITS_ATOL
    )
    logits = predictor.model.postprocess_masks(
        torch.from_numpy(low_res)[None], predictor.input_size, predictor.original_size
    )[0].numpy()
    assert_masks_match(masks, ref[f"{name}__masks"], logits, f"{image_id} {name}")


@pytest.mark.parametrize("image_id", IMAGE_IDS)
def test_batched_boxes_match_single_prompts(
    image_id: str,
    embedded: Callable[[str], SamPredictor],
    reference_outputs: Callable[[str], dict[str, np.ndarray]],
) -> None:
    """Both boxes in one decoder call give each box's official outputs."""
    ref = reference_outputs(image_id)
    predictor = embedded(image_id)
    boxes = np.stack([ref["box_A__box"], ref["box_B__box"]])
    pred = predictor.predict_batch(boxes=boxes, multimask_output=True, return_logits=True)
    assert pred.masks.shape == (2, 3, *ref["original_size"])
    for i, name in enumerate(("box_A", "box_B")):
        np.testing.assert_allclose(
            pred.iou_predictions[i], ref[f"{name}__iou_predictions"], rtol=0, atol=SEED0_IOU_ATOL
        )
        np.testing.assert_allclose(
            pred.low_res_logits[i], ref[f"{name}__low_res_logits"], rtol=0, atol=SEED0_LOGITS_ATOL
        )
        assert_masks_match(pred.masks[i] > 0, ref[f"{name}__masks"], pred.masks[i], name)


@pytest.mark.parametrize("image_id", IMAGE_IDS)
def test_bn_calibrated_features_and_box_match_reference(
    image_id: str,
    bn_calibrated_embedded: Callable[[str], SamPredictor],
    bn_calibrated_dir: Path,
) -> None:
    with np.load(bn_calibrated_dir / f"{image_id}_bn_calibrated.npz") as npz:
        ref = dict(npz)
    predictor = bn_calibrated_embedded(image_id)
    np.testing.assert_allclose(
        predictor.get_image_embedding().numpy(), ref["features"], rtol=0, atol=BN_FEATURES_ATOL
    )
    masks, iou, low_res = predictor.predict(
        box=ref["box_A__box"], multimask_output=bool(ref["box_A__multimask_output"])
    )
    np.testing.assert_allclose(iou, ref["box_A__iou_predictions"], rtol=0, atol=BN_IOU_ATOL)
    np.testing.assert_allclose(low_res, ref["box_A__low_res_logits"], rtol=0, atol=BN_LOGITS_ATOL)
    logits = predictor.predict(box=ref["box_A__box"], return_logits=True)[0]
    assert_masks_match(
        masks, ref["box_A__masks"], logits, f"{image_id} bn-calibrated box_A", BN_MASK_LOGIT_BAND
    )
