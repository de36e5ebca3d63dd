"""MobileSAM exported at 1024: every file passes the checker and its parity runs, the metadata
describes it, the ONNX decoder fed the ONNX encoder's embeddings reproduces the official reference
masks, and ``gms segment --onnx`` gives the masks of ``gms segment``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.export import BundleResult, read_metadata
from gms_models.files import sha256_file
from gms_models.runtime import BundleManifest, BundlePredictor
from tests.tolerances import SEED0_FEATURES_ATOL, SEED0_IOU_ATOL, SEED0_LOGITS_ATOL

REFERENCE_IMAGES = ("000000104455", "000000243204", "000000020992")
TEACHER_SHA256 = "240dd6e9450480f6e2fef4a344e221f542b30e804742ca5650f54f5796d0e709"
PROMPTS = ("box_A", "box_B", "point_pos_A", "points_posB_neg", "box_A_single", "box_A_refine")
runner = CliRunner()


@pytest.fixture(scope="module")
def predictor(teacher_bundle: BundleResult) -> BundlePredictor:
    return BundlePredictor.from_folder(teacher_bundle.folder)


def _reference(mobile_sam_ref: Path, image_id: str) -> dict[str, np.ndarray]:
    with np.load(mobile_sam_ref / f"{image_id}_prompts.npz") as npz:
        return dict(npz)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def test_teacher_bundle_lists_checked_files(teacher_bundle: BundleResult) -> None:
    manifest = BundleManifest.read(teacher_bundle.folder)
    files = sorted(a.file for a in manifest.artifacts)
    assert files == ["mask_decoder.multimask.onnx", "mask_decoder.single.onnx", "vit_t.onnx"]
    assert (manifest.arch, manifest.img_size) == ("vit_t", 1024)
    for name in files:
        onnx.checker.check_model(str(teacher_bundle.folder / name), full_check=True)
    leftovers = sorted(p.name for p in teacher_bundle.folder.iterdir())
    assert leftovers == sorted(["bundle.json", *files, *(f + ".json" for f in files)])


def test_teacher_metadata_describes_each_file(teacher_bundle: BundleResult) -> None:
    for name in ("vit_t.onnx", "mask_decoder.multimask.onnx", "mask_decoder.single.onnx"):
        path = teacher_bundle.folder / name
        meta = read_metadata(path)
        assert meta["sha256"] == sha256_file(path)
        assert meta["bytes"] == path.stat().st_size
        assert (meta["arch"], meta["opset"], meta["precision"]) == ("vit_t", 17, "fp32")
        assert meta["source_checkpoint"]["sha256"] == TEACHER_SHA256
        assert {"torch", "onnx", "onnxruntime", "tensorrt"} <= set(meta["versions"])
        assert meta["versions"]["onnxruntime"] and meta["versions"]["onnx"]
        parity = meta["parity"]
        assert parity["reference"] == "pytorch" and parity["tolerance"] == 1e-4
        assert 0 < parity["max_error"] <= 1e-4
        assert "real_image" in parity["cases"]
    encoder = read_metadata(teacher_bundle.folder / "vit_t.onnx")
    assert encoder["inputs"] == [
        {"name": "image", "shape": ["batch", 3, 1024, 1024], "dtype": "float32"}
    ]
    assert encoder["outputs"][0]["shape"] == ["batch", 256, 64, 64]
    assert set(encoder["parity"]["cases"]) == {"random", "real_image"}
    multi = read_metadata(teacher_bundle.folder / "mask_decoder.multimask.onnx")
    assert multi["multimask_output"] is True
    assert [i["name"] for i in multi["inputs"]] == [
        "image_embeddings",
        "point_coords",
        "point_labels",
        "mask_input",
        "has_mask_input",
    ]
    assert multi["inputs"][1]["shape"] == ["batch", "points", 2]
    assert multi["outputs"][1] == {
        "name": "low_res_masks",
        "shape": ["batch", 3, 256, 256],
        "dtype": "float32",
    }


@pytest.mark.parametrize("image_id", REFERENCE_IMAGES)
def test_onnx_decoder_on_onnx_embeddings_reproduces_reference_masks(
    predictor: BundlePredictor,
    reference_image: Callable[[str], np.ndarray],
    mobile_sam_ref: Path,
    image_id: str,
) -> None:
    ref = _reference(mobile_sam_ref, image_id)
    predictor.set_image(reference_image(image_id))
    np.testing.assert_allclose(predictor.features, ref["features"], atol=SEED0_FEATURES_ATOL)
    for name in PROMPTS:

        def get(key: str, name: str = name) -> np.ndarray | None:
            return ref.get(f"{name}__{key}")

        coords, labels = get("point_coords"), get("point_labels")
        box, mask = get("box"), get("mask_input")
        pred = predictor.predict_batch(
            boxes=None if box is None else box[None],
            points=None if coords is None else coords[None],
            labels=None if labels is None else labels[None],
            mask_input=None if mask is None else mask[None],
            multimask_output=bool(get("multimask_output")),
        )
        expected = get("masks")
        assert pred.masks[0].shape == expected.shape, name
        ious = [_iou(a, b) for a, b in zip(pred.masks[0], expected, strict=True)]
        assert min(ious) >= 0.995, (name, ious)
        np.testing.assert_allclose(
            pred.low_res_logits[0], get("low_res_logits"), atol=SEED0_LOGITS_ATOL
        )
        np.testing.assert_allclose(
            pred.iou_predictions[0], get("iou_predictions"), atol=SEED0_IOU_ATOL
        )


@pytest.mark.parametrize(
    "image_id",
    [
        REFERENCE_IMAGES[0],
        *(pytest.param(i, marks=pytest.mark.slow) for i in REFERENCE_IMAGES[1:]),
    ],
)
def test_segment_onnx_cli_matches_pytorch_segment(
    teacher_bundle: BundleResult,
    teacher_ckpt: Path,
    coco_mini: Path,
    mobile_sam_ref: Path,
    tmp_path: Path,
    image_id: str,
) -> None:
    """Two boxes, three masks each; the other two reference images run with ``-m slow``."""
    ref = _reference(mobile_sam_ref, image_id)
    boxes = [",".join(f"{v:g}" for v in ref[f"{n}__box"]) for n in ("box_A", "box_B")]
    args = ["--image", str(coco_mini / "val2017" / f"{image_id}.jpg"), "--multimask"]
    for b in boxes:
        args += ["--box", b]
    outputs = {}
    for name, command in (
        ("torch", ["segment", "--checkpoint", str(teacher_ckpt)]),
        ("onnx", ["segment", "--onnx", str(teacher_bundle.folder)]),
    ):
        out = tmp_path / f"{image_id}-{name}.npz"
        result = runner.invoke(app, [*command, *args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        with np.load(out) as npz:
            outputs[name] = dict(npz)
    torch_out, onnx_out = outputs["torch"], outputs["onnx"]
    assert (
        onnx_out["masks"].shape == torch_out["masks"].shape == (6, *ref["box_A__masks"].shape[1:])
    )
    np.testing.assert_array_equal(onnx_out["prompt_index"], torch_out["prompt_index"])
    np.testing.assert_allclose(
        onnx_out["low_res_logits"], torch_out["low_res_logits"], atol=SEED0_LOGITS_ATOL
    )
    np.testing.assert_allclose(
        onnx_out["iou_predictions"], torch_out["iou_predictions"], atol=SEED0_IOU_ATOL
    )
    differing = (onnx_out["masks"] != torch_out["masks"]).sum(axis=(1, 2))
    assert differing.max() <= 5, differing  # pixels whose logit is within float noise of 0
