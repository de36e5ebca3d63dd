"""Exporting the teacher encoder to ONNX for the ONNX Runtime and TensorRT backends.

The file has one input ``image`` (B,3,T,T) float32 and one output ``image_embeddings``
(B,256,T/16,T/16) float32, with a dynamic batch dimension, in a single file (weights inline; the
teacher is far below ONNX's 2 GB limit). Exports are cached under
``<cache_dir>/teacher/<identity>-opset<N>.onnx`` so every run after the first reuses them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from gms_models.errors import ConfigError
from gms_models.files import atomic_path
from gms_models.teacher.base import ONNX_INPUT_NAME, ONNX_OUTPUT_NAME, TeacherSpec

log = logging.getLogger(__name__)

DEFAULT_OPSET = 18


def export_encoder_onnx(
    encoder: nn.Module,
    dest: str | Path,
    img_size: int,
    *,
    opset: int = DEFAULT_OPSET,
    example_batch: int = 2,
) -> Path:
    """Export ``encoder`` (on CPU, eval mode) to ``dest`` with a dynamic batch; return ``dest``.

    The file is checked with ``onnx.checker`` before it is moved into place, so ``dest`` is either
    a valid model or absent.
    """
    import onnx

    dest = Path(dest)
    encoder = encoder.eval().to("cpu")
    example = torch.zeros(example_batch, 3, img_size, img_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with atomic_path(dest) as tmp:
        torch.onnx.export(
            encoder,
            (example,),
            str(tmp),
            input_names=[ONNX_INPUT_NAME],
            output_names=[ONNX_OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            opset_version=opset,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
        onnx.checker.check_model(str(tmp), full_check=True)
    return dest


def teacher_onnx_path(spec: TeacherSpec, cache_dir: Path, *, opset: int = DEFAULT_OPSET) -> Path:
    """Where the ONNX export of ``spec`` is cached."""
    return Path(cache_dir) / "teacher" / f"{spec.identity}-opset{opset}.onnx"


def ensure_teacher_onnx(
    spec: TeacherSpec,
    cache_dir: Path,
    *,
    onnx_path: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """The teacher's ONNX file: ``onnx_path`` if given (must exist), else the cached export,
    exporting it first when it is not cached yet."""
    if onnx_path is not None:
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise ConfigError(f"teacher ONNX file not found: {onnx_path}")
        return onnx_path
    path = teacher_onnx_path(spec, cache_dir, opset=opset)
    if not path.is_file():
        log.info("exporting the teacher %s to %s", spec.identity, path)
        export_encoder_onnx(spec.build(), path, spec.img_size, opset=opset)
    return path
