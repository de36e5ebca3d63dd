"""Image encoder → ONNX: ``image`` (B,3,S,S) SAM-normalised float32 → ``image_embeddings``
(B,256,S/16,S/16). S is fixed at export (TinyViT's window padding and ResNet18's position map
depend on it); the batch is dynamic with ``dynamic_batch`` and 1 otherwise."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gms_models.encoders import inference_form
from gms_models.export.checked import ExportResult, export_checked_onnx
from gms_models.export.metadata import SourceCheckpoint
from gms_models.export.onnx_graph import DEFAULT_OPSET
from gms_models.export.parity import Inputs
from gms_models.geometry import encoder_input
from gms_models.runtime.manifest import ENCODER_INPUT, ENCODER_OUTPUT

REAL_IMAGE_CASE = "real_image"
RANDOM_CASE = "random"


def default_parity_image() -> np.ndarray:
    """A fixed procedural picture (textured background, objects) for when no photo is given."""
    from gms_models.data.demo_scenes import object_scene

    image, _ = object_scene(np.random.default_rng(0), 640, 480, with_large=True, with_crowd=False)
    return image


def encoder_parity_cases(
    img_size: int, image: np.ndarray, *, batch: int, seed: int
) -> dict[str, Inputs]:
    """A random (batch,3,S,S) input and ``image`` pre-processed to (1,3,S,S)."""
    rng = np.random.default_rng(seed)
    random = rng.standard_normal((batch, 3, img_size, img_size), dtype=np.float32)
    real, _ = encoder_input(image, img_size)
    return {RANDOM_CASE: {ENCODER_INPUT: random}, REAL_IMAGE_CASE: {ENCODER_INPUT: real}}


def export_encoder_onnx(
    encoder: nn.Module,
    dest: str | Path,
    *,
    arch: str,
    img_size: int,
    parity_image: np.ndarray,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    source: SourceCheckpoint | None = None,
) -> ExportResult:
    """Export ``encoder`` once the checker and parity on a fresh random batch (2 when dynamic) and
    on ``parity_image`` pass; its reference outputs feed the decoder's parity run."""
    seed = secrets.randbits(31)
    batch: int | str = "batch" if dynamic_batch else 1
    cases = encoder_parity_cases(img_size, parity_image, batch=2 if dynamic_batch else 1, seed=seed)
    return export_checked_onnx(
        inference_form(encoder),
        (torch.zeros(1, 3, img_size, img_size),),
        dest,
        input_names=(ENCODER_INPUT,),
        output_names=(ENCODER_OUTPUT,),
        dynamic_axes={ENCODER_INPUT: {0: "batch"}, ENCODER_OUTPUT: {0: "batch"}}
        if dynamic_batch
        else {},
        opset=opset,
        cases=cases,
        role="encoder",
        arch=arch,
        img_size=img_size,
        source=source,
        output_shapes={ENCODER_OUTPUT: [batch, 256, img_size // 16, img_size // 16]},
        dynamic_batch=dynamic_batch,
        parity_seed=seed,
    )
