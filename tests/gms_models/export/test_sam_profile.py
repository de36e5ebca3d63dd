"""The SAM-standard ONNX profile run as a SAM-ONNX consumer runs it: plain ONNX Runtime, inputs
built by hand from the published interface, outputs unpacked by position, and the masks checked
against ``gms segment`` (PyTorch) on a real COCO image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.export import BundleResult, export_bundle, teacher_sources
from gms_models.runtime import BundleManifest
from tests.tolerances import ORT_MASK_FLIP_FRACTION, SEED0_IOU_ATOL, SEED0_LOGITS_ATOL

IMAGE = "000000104455"
BOXES = [[40.0, 60.0, 300.0, 380.0], [320.0, 100.0, 600.0, 400.0]]
POINT = (250.0, 200.0)


@pytest.fixture(scope="module")
def sam_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    teacher_ckpt: Path,
    reference_image: Callable[[str], np.ndarray],
) -> BundleResult:
    out = tmp_path_factory.mktemp("sam-profile") / "vit_t"
    return export_bundle(
        out,
        teacher_sources("vit_t", teacher_ckpt, 1024),
        parity_image=reference_image(IMAGE),
        profile="sam",
    )


def _resize_like_sam(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """What a SAM tool does before the encoder: longer side 1024, float32 HxWx3 0-255."""
    h, w = image.shape[:2]
    scale = 1024 / max(h, w)
    new_h, new_w = int(h * scale + 0.5), int(w * scale + 0.5)
    resized = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32), new_w / w, new_h / h


def _consumer(folder: Path, image: np.ndarray, coords: np.ndarray, labels: np.ndarray) -> list:
    """One SAM-ONNX decoder call per prompt, as SAM tools make it; outputs by position."""
    encoder = ort.InferenceSession(str(next(folder.glob("*.sam_encoder.onnx"))))
    decoder = ort.InferenceSession(str(folder / "sam_decoder.onnx"))
    resized, sx, sy = _resize_like_sam(image)
    (embedding,) = encoder.run(None, {"input_image": resized})
    assert embedding.shape == (1, 256, 64, 64)
    results = []
    for xy, lab in zip(coords, labels, strict=True):
        scaled = (xy * np.array([sx, sy])).astype(np.float32)[None]
        outputs = decoder.run(
            None,
            {
                "image_embeddings": embedding,
                "point_coords": scaled,
                "point_labels": lab.astype(np.float32)[None],
                "mask_input": np.zeros((1, 1, 256, 256), np.float32),
                "has_mask_input": np.zeros(1, np.float32),
                "orig_im_size": np.array(image.shape[:2], np.float32),
            },
        )
        masks, iou, low_res = outputs
        assert masks.shape == (1, 1, *image.shape[:2]) and low_res.shape == (1, 1, 256, 256)
        results.append((masks[0, 0] > 0.0, iou[0], low_res[0]))
    return results


def _gms_segment(tmp_path: Path, image: Path, ckpt: Path, args: list[str]) -> dict:
    out = tmp_path / f"segment-{len(list(tmp_path.iterdir()))}.npz"
    cmd = ["segment", "--checkpoint", str(ckpt), "--image", str(image), "--out", str(out), *args]
    result = CliRunner().invoke(app, cmd)
    assert result.exit_code == 0, (result.output, result.exception)
    with np.load(out) as npz:
        return dict(npz)


def test_the_sam_profile_is_what_sam_tools_expect(sam_bundle: BundleResult) -> None:
    manifest = BundleManifest.read(sam_bundle.folder)
    assert manifest.profile == "sam" and manifest.img_size == 1024
    encoder = ort.InferenceSession(str(next(sam_bundle.folder.glob("*.sam_encoder.onnx"))))
    decoder = ort.InferenceSession(str(sam_bundle.folder / "sam_decoder.onnx"))
    assert [(i.name, i.type) for i in encoder.get_inputs()] == [("input_image", "tensor(float)")]
    assert len(encoder.get_inputs()[0].shape) == 3
    assert [o.name for o in encoder.get_outputs()] == ["image_embeddings"]
    assert [i.name for i in decoder.get_inputs()] == [
        "image_embeddings",
        "point_coords",
        "point_labels",
        "mask_input",
        "has_mask_input",
        "orig_im_size",
    ]
    assert all(i.type == "tensor(float)" for i in decoder.get_inputs())
    assert [o.name for o in decoder.get_outputs()] == ["masks", "iou_predictions", "low_res_masks"]


def test_sam_consumer_masks_equal_gms_segment(
    sam_bundle: BundleResult, coco_mini: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    image_path = coco_mini / "val2017" / f"{IMAGE}.jpg"
    image = np.asarray(Image.open(image_path).convert("RGB"))
    coords = [np.array([b[:2], b[2:]]) for b in BOXES] + [np.array([POINT, (0.0, 0.0)])]
    labels = [np.array([2, 3]), np.array([2, 3]), np.array([1, -1])]
    got = _consumer(sam_bundle.folder, image, np.array(coords), np.array(labels))

    box_args = [a for b in BOXES for a in ("--box", ",".join(map(str, b)))]
    by_boxes = _gms_segment(tmp_path, image_path, teacher_ckpt, box_args)
    by_point = _gms_segment(tmp_path, image_path, teacher_ckpt, ["--point", "250,200"])
    expected = [(by_boxes, 0), (by_boxes, 1), (by_point, 0)]
    for (mask, iou, low_res), (ref, i) in zip(got, expected, strict=True):
        np.testing.assert_allclose(low_res[0], ref["low_res_logits"][i], atol=SEED0_LOGITS_ATOL)
        np.testing.assert_allclose(iou[0], ref["iou_predictions"][i], atol=SEED0_IOU_ATOL)
        flipped = int((mask != ref["masks"][i]).sum())
        assert flipped <= max(5, ORT_MASK_FLIP_FRACTION * mask.size), flipped
