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


def _consumer(
    folder: Path,
    image: np.ndarray,
    coords: np.ndarray,
    labels: np.ndarray,
    decoder_file: str = "sam_decoder.onnx",
    n_masks: int = 1,
) -> list:
    """One SAM-ONNX decoder call per prompt, as SAM tools make it; outputs by position."""
    encoder = ort.InferenceSession(str(next(folder.glob("*.sam_encoder.onnx"))))
    decoder = ort.InferenceSession(str(folder / decoder_file))
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
        assert masks.shape == (1, n_masks, *image.shape[:2])
        assert low_res.shape == (1, n_masks, 256, 256) and iou.shape == (1, n_masks)
        results.append((masks[0] > 0.0, iou[0], low_res[0]))
    return results


def _gms_segment(tmp_path: Path, image: Path, model: list[str], args: list[str]) -> dict:
    """``gms segment`` with ``model`` (``--checkpoint CKPT`` or ``--onnx DIR``)."""
    out = tmp_path / f"segment-{len(list(tmp_path.iterdir()))}.npz"
    cmd = ["segment", *model, "--image", str(image), "--out", str(out), *args]
    result = CliRunner().invoke(app, cmd)
    assert result.exit_code == 0, (result.output, result.exception)
    with np.load(out) as npz:
        return dict(npz)


def test_the_sam_profile_is_what_sam_tools_expect(sam_bundle: BundleResult) -> None:
    manifest = BundleManifest.read(sam_bundle.folder)
    assert manifest.profile == "sam" and manifest.img_size == 1024
    encoder = ort.InferenceSession(str(next(sam_bundle.folder.glob("*.sam_encoder.onnx"))))
    assert [(i.name, i.type) for i in encoder.get_inputs()] == [("input_image", "tensor(float)")]
    assert len(encoder.get_inputs()[0].shape) == 3
    assert [o.name for o in encoder.get_outputs()] == ["image_embeddings"]
    for name in ("sam_decoder.onnx", "sam_decoder.multimask.onnx"):
        decoder = ort.InferenceSession(str(sam_bundle.folder / name))
        assert [i.name for i in decoder.get_inputs()] == [
            "image_embeddings",
            "point_coords",
            "point_labels",
            "mask_input",
            "has_mask_input",
            "orig_im_size",
        ]
        assert all(i.type == "tensor(float)" for i in decoder.get_inputs())
        outputs = [o.name for o in decoder.get_outputs()]
        assert outputs == ["masks", "iou_predictions", "low_res_masks"]


def test_sam_consumer_masks_equal_gms_segment(
    sam_bundle: BundleResult, coco_mini: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    image_path = coco_mini / "val2017" / f"{IMAGE}.jpg"
    image = np.asarray(Image.open(image_path).convert("RGB"))
    coords = [np.array([b[:2], b[2:]]) for b in BOXES] + [np.array([POINT, (0.0, 0.0)])]
    labels = [np.array([2, 3]), np.array([2, 3]), np.array([1, -1])]
    got = _consumer(sam_bundle.folder, image, np.array(coords), np.array(labels))

    box_args = [a for b in BOXES for a in ("--box", ",".join(map(str, b)))]
    torch_model = ["--checkpoint", str(teacher_ckpt)]
    by_boxes = _gms_segment(tmp_path, image_path, torch_model, box_args)
    by_point = _gms_segment(tmp_path, image_path, torch_model, ["--point", "250,200"])
    expected = [(by_boxes, 0), (by_boxes, 1), (by_point, 0)]
    for (masks, iou, low_res), (ref, i) in zip(got, expected, strict=True):
        _assert_like_gms_segment(masks[0], iou[0], low_res[0], ref, i)


def _assert_like_gms_segment(
    mask: np.ndarray, iou: np.ndarray, low_res: np.ndarray, ref: dict, i: int
) -> None:
    np.testing.assert_allclose(low_res, ref["low_res_logits"][i], atol=SEED0_LOGITS_ATOL)
    np.testing.assert_allclose(iou, ref["iou_predictions"][i], atol=SEED0_IOU_ATOL)
    flipped = int((mask != ref["masks"][i]).sum())
    assert flipped <= max(5, ORT_MASK_FLIP_FRACTION * mask.size), flipped


def test_sam_consumer_multimask_masks_equal_gms_segment_multimask(
    sam_bundle: BundleResult, coco_mini: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    """One point is ambiguous: the multimask decoder gives SAM's three candidates (C = 3)."""
    image_path = coco_mini / "val2017" / f"{IMAGE}.jpg"
    image = np.asarray(Image.open(image_path).convert("RGB"))
    coords, labels = np.array([[POINT, (0.0, 0.0)]]), np.array([[1, -1]])
    ((masks, iou, low_res),) = _consumer(
        sam_bundle.folder, image, coords, labels, "sam_decoder.multimask.onnx", n_masks=3
    )
    args = ["--point", "250,200", "--multimask"]
    ref = _gms_segment(tmp_path, image_path, ["--checkpoint", str(teacher_ckpt)], args)
    by_onnx = _gms_segment(tmp_path, image_path, ["--onnx", str(sam_bundle.folder)], args)
    assert ref["masks"].shape[0] == by_onnx["masks"].shape[0] == 3
    for k in range(3):
        _assert_like_gms_segment(masks[k], iou[k], low_res[k], ref, k)
        _assert_like_gms_segment(
            by_onnx["masks"][k], by_onnx["iou_predictions"][k], by_onnx["low_res_logits"][k], ref, k
        )
