"""Static INT8 (QDQ, per-channel int8 weights, uint8 activations, MinMax) of an exported encoder
for ONNX Runtime on CPU. Its cost is reported, not checked: relative L2 against fp32 and, given a
single-mask decoder, ``mask_miou_vs_fp32`` over a 4×4 point grid per image."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gms_models.errors import DataError
from gms_models.export.checked import ExportResult, publish
from gms_models.export.metadata import SourceCheckpoint, artifact_metadata
from gms_models.export.onnx_graph import (
    gelus_as_one_op,
    onnx_io_signature,
    pixel_matmuls_as_convs,
)
from gms_models.export.parity import compare
from gms_models.files import atomic_path
from gms_models.geometry import encoder_input
from gms_models.image_io import IMAGE_SUFFIXES, load_rgb
from gms_models.runtime.manifest import ENCODER_INPUT, ENCODER_OUTPUT
from gms_models.runtime.predictor import BundlePredictor
from gms_models.runtime.sessions import OnnxRuntimeSession, Session

DEFAULT_MAX_IMAGES = 16
GRID_POINTS = 4


@dataclass(frozen=True)
class CalibrationSet:
    """Calibration images: their files, encoder inputs (1,3,S,S) and the decoded RGB arrays."""

    files: list[Path]
    inputs: list[np.ndarray]
    images: list[np.ndarray]


def calibration_images(folder: str | Path, img_size: int, max_images: int) -> CalibrationSet:
    """Up to ``max_images`` images of ``folder`` (sorted by name), pre-processed for the encoder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"calibration folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(
            f"calibration folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    files = files[:max_images]
    images = [load_rgb(p) for p in files]
    return CalibrationSet(files, [encoder_input(img, img_size)[0] for img in images], images)


def _quantize(fp32_onnx: Path, dest: Path, calib: CalibrationSet) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped
        items = iter(calib.inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {ENCODER_INPUT: item}

    import onnx

    model = onnx.load(str(fp32_onnx))
    pixel_matmuls_as_convs(model)  # GMF's channel means as convolutions: int8 kernels for them
    gelus_as_one_op(model)  # one float node, not five passes between Q/DQ pairs
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        convs, prepared = Path(tmp) / "convs.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(model, str(convs))
        # The quantiser logs one root-logger warning per normalisation weight that has no channel
        # axis (they stay float, as intended); hundreds of lines that say nothing to the user.
        logging.disable(logging.WARNING)
        try:
            quant_pre_process(str(convs), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(dest),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        finally:
            logging.disable(logging.NOTSET)


def mask_miou(
    decoder: Session,
    img_size: int,
    images: list[np.ndarray],
    fp32: list[np.ndarray],
    int8: list[np.ndarray],
) -> float:
    """Mean IoU of single masks decoded from fp32 vs int8 embeddings, grid prompts per image."""
    predictor = BundlePredictor(img_size, None, {False: decoder})
    ious: list[float] = []
    for image, emb_a, emb_b in zip(images, fp32, int8, strict=True):
        h, w = image.shape[:2]
        xs = (np.arange(GRID_POINTS) + 0.5) * w / GRID_POINTS  # cell centres, one prompt each
        ys = (np.arange(GRID_POINTS) + 0.5) * h / GRID_POINTS
        points = np.array([[[x, y]] for y in ys for x in xs], dtype=np.float32)
        labels = np.ones(points.shape[:2], np.float32)
        masks = []
        for emb in (emb_a, emb_b):
            predictor.set_features(emb, (h, w))
            pred = predictor.predict_batch(points=points, labels=labels, multimask_output=False)
            masks.append(pred.masks[:, 0])
        inter = np.logical_and(*masks).sum(axis=(1, 2))
        union = np.logical_or(*masks).sum(axis=(1, 2))
        ious.extend(np.where(union > 0, inter / np.maximum(union, 1), 1.0).tolist())
    return float(np.mean(ious))


def quantize_encoder_int8(
    fp32: ExportResult,
    dest: str | Path,
    calib_dir: str | Path,
    *,
    max_images: int = DEFAULT_MAX_IMAGES,
    decoder_onnx: Path | None = None,
    source: SourceCheckpoint | None = None,
) -> ExportResult:
    """Quantise the checked fp32 encoder into ``dest``, its error on each calibration image in the
    metadata (``decoder_onnx``, a single-mask decoder, adds ``mask_miou_vs_fp32``)."""
    dest = Path(dest)
    img_size = int(fp32.metadata["img_size"])
    calib = calibration_images(calib_dir, img_size, max_images)
    cases = {
        f"calibration:{p.name}": {ENCODER_INPUT: x}
        for p, x in zip(calib.files, calib.inputs, strict=True)
    }
    reference = OnnxRuntimeSession(fp32.path)
    with atomic_path(dest) as tmp:
        _quantize(fp32.path, tmp, calib)
        quantized = OnnxRuntimeSession(tmp)
        report, ref_out = compare(
            quantized.run,
            reference.run,
            cases,
            reference_name="onnxruntime fp32",
            tolerance=None,
            what=f"INT8 encoder {dest.name}",
        )
        extra: dict[str, object] = {}
        if decoder_onnx is not None:
            int8_emb = [quantized.run(c)[ENCODER_OUTPUT] for c in cases.values()]
            fp32_emb = [out[ENCODER_OUTPUT] for out in ref_out.values()]
            miou = mask_miou(
                OnnxRuntimeSession(decoder_onnx), img_size, calib.images, fp32_emb, int8_emb
            )
            extra = {"mask_miou_vs_fp32": miou, "miou_cost": 1.0 - miou}
        del quantized
        meta = artifact_metadata(
            tmp,
            file_name=dest.name,
            role="encoder",
            arch=fp32.metadata["arch"],
            img_size=img_size,
            precision="int8",
            opset=fp32.metadata["opset"],
            io=onnx_io_signature(tmp),
            parity=report,
            source=source,
            exporter="onnxruntime.quantization.quantize_static (QDQ, per-channel, MinMax)",
            fp32_file=fp32.path.name,
            fp32_bytes=fp32.path.stat().st_size,
            calibration={"folder": str(Path(calib_dir).resolve()), "images": len(calib.files)},
            **extra,
        )
    return publish(dest, meta, report, cases, ref_out)
