"""SAM's prompt encoder + mask decoder as one module with SAM-ONNX-style inputs; exact 0/1 label
factors replace boolean indexing, so that the graph has no data-dependent shapes."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gms_models.export.checked import ExportResult, export_checked_onnx
from gms_models.export.metadata import SourceCheckpoint
from gms_models.export.onnx_encoder import REAL_IMAGE_CASE
from gms_models.export.onnx_graph import DEFAULT_OPSET
from gms_models.export.parity import Inputs
from gms_models.geometry import PADDING_LABEL
from gms_models.runtime.manifest import DECODER_INPUTS, DECODER_OUTPUTS
from gms_models.sam.mask_decoder import MaskDecoder
from gms_models.sam.prompt_encoder import PromptEncoder

DECODER_DYNAMIC_AXES = {
    "image_embeddings": {0: "embedding_batch"},
    "point_coords": {0: "batch", 1: "points"},
    "point_labels": {0: "batch", 1: "points"},
    "mask_input": {0: "mask_batch"},
    "iou_predictions": {0: "batch"},
    "low_res_masks": {0: "batch"},
}


class SamPromptDecoder(nn.Module):
    def __init__(
        self, prompt_encoder: PromptEncoder, mask_decoder: MaskDecoder, multimask_output: bool
    ) -> None:
        super().__init__()
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.multimask_output = multimask_output

    def _embed_points(self, point_coords: torch.Tensor, point_labels: torch.Tensor) -> torch.Tensor:
        pe = self.prompt_encoder
        # Same operations as PositionEmbeddingRandom.forward_with_coords: (p + 0.5) / size.
        h, w = pe.input_image_size
        x, y = (point_coords[..., 0] + 0.5) / float(w), (point_coords[..., 1] + 0.5) / float(h)
        embedding = pe.pe_layer._encode(torch.stack([x, y], dim=-1))
        labels = point_labels.unsqueeze(-1)
        is_padding = (labels == PADDING_LABEL).to(embedding.dtype)
        embedding = embedding * (1.0 - is_padding) + pe.not_a_point_embed.weight * is_padding
        for label in range(len(pe.point_embeddings)):
            weight = pe.point_embedding(label)
            embedding = embedding + weight * (labels == label).to(embedding.dtype)
        return embedding

    def _embed_mask(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        pe = self.prompt_encoder
        has_mask = has_mask_input.reshape(-1, 1, 1, 1)
        downscaled: torch.Tensor = pe.mask_downscaling(mask_input)
        no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1)
        return downscaled * has_mask + no_mask * (1.0 - has_mask)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sparse = self._embed_points(point_coords, point_labels)
        dense = self._embed_mask(mask_input, has_mask_input)
        masks, iou = self.mask_decoder(
            image_embeddings,
            self.prompt_encoder.get_dense_pe(),
            sparse,
            dense,
            multimask_output=self.multimask_output,
        )
        return iou, masks


def decoder_parity_cases(
    img_size: int, image_embedding: np.ndarray, *, seed: int
) -> dict[str, Inputs]:
    """Random prompts on a shared and on per-prompt embeddings (with mask inputs), and a box and
    a point on a real image's embedding."""
    rng = np.random.default_rng(seed)
    grid = img_size // 16
    m = 4 * grid

    def randn(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    def coords(b: int, n: int) -> np.ndarray:
        return rng.uniform(0, img_size, (b, n, 2)).astype(np.float32)

    def case(
        emb: np.ndarray, xy: np.ndarray, labels: list[list[int]], masks: np.ndarray, has_mask: float
    ) -> Inputs:
        xy = np.asarray(xy, np.float32)
        values = (emb, xy, np.asarray(labels, np.float32), masks, np.array([has_mask], np.float32))
        return dict(zip(DECODER_INPUTS, values, strict=True))

    s = float(img_size)
    return {
        "random_shared_embedding": case(
            randn(1, 256, grid, grid),
            coords(3, 4),
            [[1, 0, 1, -1], [0, 1, 2, 3], [1, 1, 1, 1]],
            np.zeros((1, 1, m, m), np.float32),
            0.0,
        ),
        "random_per_prompt_embedding": case(
            randn(2, 256, grid, grid), coords(2, 2), [[2, 3], [1, -1]], randn(2, 1, m, m), 1.0
        ),
        REAL_IMAGE_CASE: case(
            np.asarray(image_embedding, np.float32),
            np.array([[[0.25 * s, 0.25 * s], [0.6 * s, 0.7 * s]], [[0.5 * s, 0.5 * s], [0, 0]]]),
            [[2, 3], [1, -1]],
            np.zeros((1, 1, m, m), np.float32),
            0.0,
        ),
    }


def export_decoder_onnx(
    prompt_encoder: PromptEncoder,
    mask_decoder: MaskDecoder,
    dest: str | Path,
    *,
    multimask_output: bool,
    image_embedding: np.ndarray,
    arch: str,
    opset: int = DEFAULT_OPSET,
    source: SourceCheckpoint | None = None,
) -> ExportResult:
    """:class:`SamPromptDecoder` checked on parity cases with the real ``image_embedding``."""
    module = SamPromptDecoder(prompt_encoder, mask_decoder, multimask_output).eval()
    img_size, grid = prompt_encoder.input_image_size[0], prompt_encoder.image_embedding_size[0]
    n_masks = mask_decoder.num_mask_tokens - 1 if multimask_output else 1
    seed = secrets.randbits(31)
    cases = decoder_parity_cases(img_size, image_embedding, seed=seed)
    example = tuple(torch.from_numpy(v) for v in cases["random_shared_embedding"].values())
    return export_checked_onnx(
        module,
        example,
        dest,
        input_names=DECODER_INPUTS,
        output_names=DECODER_OUTPUTS,
        dynamic_axes=DECODER_DYNAMIC_AXES,
        opset=opset,
        cases=cases,
        role="decoder",
        arch=arch,
        img_size=img_size,
        source=source,
        output_shapes={
            "iou_predictions": ["batch", n_masks],
            "low_res_masks": ["batch", n_masks, 4 * grid, 4 * grid],
        },
        multimask_output=multimask_output,
        embedding_grid=grid,
        parity_seed=seed,
    )
