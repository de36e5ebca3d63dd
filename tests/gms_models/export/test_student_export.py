"""Random-init students at 256 exported with a dynamic batch: gmf_2282 (encoder only) and
resnet18 (with SAM's decoder from the teacher checkpoint and an INT8 encoder), checked, described
by their metadata, and segmenting like the PyTorch student + SAM decoder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from gms_models.export import BundleResult, export_bundle, read_metadata, student_sources
from gms_models.files import sha256_file
from gms_models.runtime import BundleManifest, BundlePredictor, OnnxRuntimeSession, OrtSettings
from gms_models.sam import SamPredictor, build_sam
from tests.tolerances import ORT_MASK_FLIP_FRACTION, ORT_STUDENT_IOU_ATOL, ORT_STUDENT_LOGITS_ATOL

SIZE = 256
CALIBRATION_IMAGES = 4
ORT_SETTINGS = OrtSettings(threads=1)


@pytest.fixture(scope="module")
def resnet18_bundle(
    tmp_path_factory: pytest.TempPathFactory,
    student_checkpoint: Callable[[str], Path],
    teacher_ckpt: Path,
    coco_mini: Path,
    reference_image: Callable[[str], np.ndarray],
) -> BundleResult:
    sources = student_sources(
        "resnet18", student_checkpoint("resnet18"), decoder_checkpoint=teacher_ckpt
    )
    return export_bundle(
        tmp_path_factory.mktemp("resnet18") / "bundle",
        sources,
        dynamic_batch=True,
        int8_calib=coco_mini / "val2017",
        int8_max_images=CALIBRATION_IMAGES,
        parity_image=reference_image("000000243204"),
        ort_settings=ORT_SETTINGS,
    )


def _check_encoder_file(path: Path, arch: str, checkpoint: Path) -> dict:
    onnx.checker.check_model(str(path), full_check=True)
    meta = read_metadata(path)
    assert (meta["arch"], meta["img_size"], meta["role"], meta["precision"]) == (
        arch,
        SIZE,
        "encoder",
        "fp32",
    )
    assert meta["inputs"][0]["shape"] == ["batch", 3, SIZE, SIZE]
    assert meta["outputs"][0]["shape"] == ["batch", 256, SIZE // 16, SIZE // 16]
    assert meta["sha256"] == sha256_file(path)
    assert meta["source_checkpoint"]["sha256"] == sha256_file(checkpoint)
    assert 0 < meta["parity"]["max_error"] <= 1e-4
    assert set(meta["parity"]["cases"]) == {"random", "real_image"}
    return meta


def test_gmf_2282_exports_with_dynamic_batch(
    tmp_path: Path,
    student_checkpoint: Callable[[str], Path],
    reference_image: Callable[[str], np.ndarray],
) -> None:
    ckpt = student_checkpoint("gmf_2282")
    result = export_bundle(
        tmp_path / "gmf",
        student_sources("gmf_2282", ckpt),
        dynamic_batch=True,
        parity_image=reference_image("000000020992"),
    )
    manifest = BundleManifest.read(result.folder)
    assert [a.file for a in manifest.artifacts] == ["gmf_2282.onnx"]  # no decoder checkpoint
    _check_encoder_file(result.folder / "gmf_2282.onnx", "gmf_2282", ckpt)
    session = OnnxRuntimeSession(result.folder / "gmf_2282.onnx")
    out = session.run({"image": np.zeros((3, 3, SIZE, SIZE), np.float32)})
    assert out["image_embeddings"].shape == (3, 256, SIZE // 16, SIZE // 16)


def test_resnet18_bundle_files_and_metadata(
    resnet18_bundle: BundleResult, student_checkpoint: Callable[[str], Path], teacher_ckpt: Path
) -> None:
    folder = resnet18_bundle.folder
    assert BundleManifest.read(folder).ort_settings == ORT_SETTINGS
    _check_encoder_file(folder / "resnet18.onnx", "resnet18", student_checkpoint("resnet18"))
    for name, masks in (("mask_decoder.multimask.onnx", 3), ("mask_decoder.single.onnx", 1)):
        onnx.checker.check_model(str(folder / name), full_check=True)
        meta = read_metadata(folder / name)
        assert meta["source_checkpoint"]["sha256"] == sha256_file(teacher_ckpt)
        assert meta["outputs"][1]["shape"] == ["batch", masks, SIZE // 4, SIZE // 4]
        assert 0 < meta["parity"]["max_error"] <= 1e-4
        assert set(meta["parity"]["cases"]) == {
            "random_shared_embedding",
            "random_per_prompt_embedding",
            "real_image",
        }


def test_int8_encoder_is_smaller_and_close(resnet18_bundle: BundleResult) -> None:
    folder = resnet18_bundle.folder
    fp32, int8 = folder / "resnet18.onnx", folder / "resnet18.int8.onnx"
    onnx.checker.check_model(str(int8), full_check=True)
    meta = read_metadata(int8)
    assert meta["precision"] == "int8" and meta["fp32_file"] == "resnet18.onnx"
    assert int8.stat().st_size < 0.35 * fp32.stat().st_size
    assert meta["calibration"]["images"] == CALIBRATION_IMAGES
    errors = [e["image_embeddings"] for e in meta["parity"]["cases"].values()]
    assert len(errors) == CALIBRATION_IMAGES
    assert 0 < max(errors) < 0.05, errors  # measured about 4e-3 for this random-init student
    assert 0.9 <= meta["mask_miou_vs_fp32"] <= 1.0
    assert meta["miou_cost"] == pytest.approx(1 - meta["mask_miou_vs_fp32"])
    predictor = BundlePredictor.from_folder(folder, encoder_precision="int8")
    image = np.full((100, 120, 3), 128, np.uint8)
    predictor.set_image(image)
    prediction = predictor.predict_batch(boxes=np.array([[10, 10, 90, 80]]), multimask_output=False)
    assert prediction.masks.shape == (1, 1, 100, 120)


def test_resnet18_runtime_segments_like_pytorch(
    resnet18_bundle: BundleResult,
    student_checkpoint: Callable[[str], Path],
    teacher_ckpt: Path,
    reference_image: Callable[[str], np.ndarray],
) -> None:
    from gms_models.checkpoint import load_student

    image = reference_image("000000104455")
    sam = build_sam(
        image_encoder=load_student(student_checkpoint("resnet18"), "resnet18"),
        checkpoint=teacher_ckpt,
        img_size=SIZE,
    )
    torch_predictor = SamPredictor(sam)
    onnx_predictor = BundlePredictor.from_folder(resnet18_bundle.folder)
    assert isinstance(onnx_predictor.encoder, OnnxRuntimeSession)
    assert onnx_predictor.encoder.settings == ORT_SETTINGS  # runs as it was exported to
    torch_predictor.set_image(image)
    onnx_predictor.set_image(image)
    prompts = {
        "boxes": np.array([[50, 60, 400, 300], [300, 100, 600, 450]], np.float32),
        "points": np.array([[[200, 200], [500, 400]], [[320, 240], [10, 10]]], np.float32),
        "labels": np.array([[1, 0], [1, -1]], np.int32),
    }
    for multimask in (False, True):
        want = torch_predictor.predict_batch(**prompts, multimask_output=multimask)
        got = onnx_predictor.predict_batch(**prompts, multimask_output=multimask)
        np.testing.assert_allclose(
            got.low_res_logits, want.low_res_logits, atol=ORT_STUDENT_LOGITS_ATOL
        )
        np.testing.assert_allclose(
            got.iou_predictions, want.iou_predictions, atol=ORT_STUDENT_IOU_ATOL
        )
        assert (got.masks != want.masks).mean() < ORT_MASK_FLIP_FRACTION
