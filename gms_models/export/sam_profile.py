"""SAM-standard ONNX files at 1024: the graphs normalise, pad and upsample to ``orig_im_size``."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gms_models.export.checked import ExportResult, export_checked_onnx
from gms_models.export.errors import ExportError
from gms_models.export.onnx_decoder import (
    DECODER_DYNAMIC_AXES,
    SamPromptDecoder,
    decoder_parity_cases,
)
from gms_models.export.onnx_encoder import REAL_IMAGE_CASE
from gms_models.export.sources import ExportSources
from gms_models.geometry import PIXEL_MEAN, PIXEL_STD, resize_longest_side
from gms_models.runtime.manifest import ENCODER_OUTPUT, Artifact
from gms_models.runtime.sam_onnx import (
    SAM_DECODER_INPUTS,
    SAM_DECODER_OUTPUTS,
    SAM_ENCODER_INPUT,
    SAM_IMG_SIZE,
    SAM_MASK_SIZE,
)
from gms_models.sam.sam import Sam

SAM_ENCODER_FILE = "{arch}.sam_encoder.onnx"
SAM_DECODER_FILES = {False: "sam_decoder.onnx", True: "sam_decoder.multimask.onnx"}


class SamImageEncoder(nn.Module):
    """``input_image`` (H,W,3) float32 RGB 0-255, longer side 1024 -> ``image_embeddings``."""

    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(-1, 1, 1), False)

    def forward(self, input_image: torch.Tensor) -> torch.Tensor:
        x = (input_image.permute(2, 0, 1).unsqueeze(0) - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        embeddings: torch.Tensor = self.encoder(
            F.pad(x, (0, SAM_IMG_SIZE - w, 0, SAM_IMG_SIZE - h))
        )
        return embeddings


class SamMaskDecoder(nn.Module):
    """SAM's ONNX decoder interface: prompts in, logits at the original size out."""

    def __init__(self, sam: Sam, multimask_output: bool) -> None:
        super().__init__()
        self.sam = sam
        self.prompt_decoder = SamPromptDecoder(
            sam.prompt_encoder, sam.mask_decoder, multimask_output
        )

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The prompt decoder's inputs, then ``orig_im_size``."""
        *prompt, orig_im_size = inputs
        iou, low_res = self.prompt_decoder(*prompt)
        # The resized size, as preprocess_shape computes it: int(side * scale + 0.5).
        scale = SAM_IMG_SIZE / torch.max(orig_im_size)
        input_size = torch.floor(orig_im_size * scale + 0.5).to(torch.int64)
        original = orig_im_size.to(torch.int64)
        masks = self.sam.postprocess_masks(
            low_res,
            (input_size[0], input_size[1]),  # type: ignore[arg-type]
            (original[0], original[1]),  # type: ignore[arg-type]
        )
        return masks, iou, low_res


def _resized_state(encoder: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with 4-D maps (a learned position map) resized bilinearly to ``encoder``'s."""
    target = encoder.state_dict()
    out = dict(state)
    for key, value in state.items():
        want = target.get(key)
        if want is None or want.shape == value.shape:
            continue
        if value.ndim != 4 or value.shape[:2] != want.shape[:2]:
            raise ExportError(
                f"parameter {key} has shape {tuple(value.shape)} but the {SAM_IMG_SIZE} encoder "
                f"needs {tuple(want.shape)}; it cannot be resized"
            )
        out[key] = F.interpolate(value, want.shape[2:], mode="bilinear", align_corners=False)
    return out


def deployment_sources(sources: ExportSources) -> ExportSources:
    """``sources`` rebuilt at 1024, as SAM tools feed, learned position maps resized."""
    if not sources.has_decoder:
        raise ExportError(
            "the SAM profile needs the prompt encoder and mask decoder: give a SAM checkpoint "
            "(--decoder-checkpoint for a student)"
        )
    if sources.img_size == SAM_IMG_SIZE:
        return sources
    from gms_models.registry import build_encoder
    from gms_models.sam import build_sam

    encoder = build_encoder(sources.arch, img_size=SAM_IMG_SIZE)
    encoder.load_state_dict(_resized_state(encoder, sources.encoder.state_dict()), strict=True)
    assert sources.prompt_encoder is not None and sources.mask_decoder is not None
    decoder_state = {
        **{f"prompt_encoder.{k}": v for k, v in sources.prompt_encoder.state_dict().items()},
        **{f"mask_decoder.{k}": v for k, v in sources.mask_decoder.state_dict().items()},
    }
    sam = build_sam(image_encoder=encoder.eval(), checkpoint=decoder_state, img_size=SAM_IMG_SIZE)
    return replace(
        sources,
        img_size=SAM_IMG_SIZE,
        encoder=sam.image_encoder.eval(),
        prompt_encoder=sam.prompt_encoder,
        mask_decoder=sam.mask_decoder,
    )


def export_sam_profile(
    folder: Path, sources: ExportSources, *, parity_image: np.ndarray, opset: int
) -> tuple[list[Artifact], dict[str, ExportResult]]:
    """The encoder and both decoders into ``folder``, each checked on ``parity_image`` and more."""
    assert sources.prompt_encoder is not None and sources.mask_decoder is not None
    seed = secrets.randbits(31)
    rng = np.random.default_rng(seed)
    resized = resize_longest_side(parity_image, SAM_IMG_SIZE).astype(np.float32)
    portrait = rng.uniform(0, 255, (SAM_IMG_SIZE, 683, 3)).astype(np.float32)
    encoder = SamImageEncoder(sources.encoder).eval()
    enc = export_checked_onnx(
        encoder,
        (torch.from_numpy(resized),),
        folder / SAM_ENCODER_FILE.format(arch=sources.arch),
        input_names=(SAM_ENCODER_INPUT,),
        output_names=(ENCODER_OUTPUT,),
        dynamic_axes={SAM_ENCODER_INPUT: {0: "height", 1: "width"}},
        opset=opset,
        cases={
            REAL_IMAGE_CASE: {SAM_ENCODER_INPUT: resized},
            "random_portrait": {SAM_ENCODER_INPUT: portrait},
        },
        role="encoder",
        arch=sources.arch,
        img_size=SAM_IMG_SIZE,
        source=sources.encoder_source,
        output_shapes={ENCODER_OUTPUT: [1, 256, SAM_IMG_SIZE // 16, SAM_IMG_SIZE // 16]},
        profile="sam",
        parity_seed=seed,
    )
    embedding = enc.reference_outputs[REAL_IMAGE_CASE][ENCODER_OUTPUT]
    cases = decoder_parity_cases(SAM_IMG_SIZE, embedding, seed=seed)
    sizes = {REAL_IMAGE_CASE: parity_image.shape[:2]}
    for name, case in cases.items():
        case["orig_im_size"] = np.array(sizes.get(name, (600, 800)), np.float32)
    sam = Sam(sources.encoder, sources.prompt_encoder, sources.mask_decoder, SAM_IMG_SIZE)
    artifacts = [Artifact(enc.path.name, "encoder", "onnxruntime", "fp32")]
    results = {enc.path.name: enc}
    for multimask, name in SAM_DECODER_FILES.items():
        n_masks = sam.mask_decoder.num_mask_tokens - 1 if multimask else 1
        dec = export_checked_onnx(
            SamMaskDecoder(sam, multimask).eval(),
            tuple(torch.from_numpy(v) for v in cases[REAL_IMAGE_CASE].values()),
            folder / name,
            input_names=SAM_DECODER_INPUTS,
            output_names=SAM_DECODER_OUTPUTS,
            dynamic_axes={**DECODER_DYNAMIC_AXES, "masks": {0: "batch", 2: "height", 3: "width"}},
            opset=opset,
            cases=cases,
            role="decoder",
            arch=sources.arch,
            img_size=SAM_IMG_SIZE,
            source=sources.decoder_source,
            output_shapes={
                "masks": ["batch", n_masks, "height", "width"],
                "iou_predictions": ["batch", n_masks],
                "low_res_masks": ["batch", n_masks, SAM_MASK_SIZE, SAM_MASK_SIZE],
            },
            profile="sam",
            multimask_output=multimask,
            parity_seed=seed,
        )
        artifacts.append(Artifact(dec.path.name, "decoder", "onnxruntime", "fp32", multimask))
        results[dec.path.name] = dec
    return artifacts, results
