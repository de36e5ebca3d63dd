"""Segment with an export folder: ONNX Runtime or TensorRT graphs, the rest in numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gms_models.geometry import MASK_THRESHOLD, PromptBatch, postprocess_masks
from gms_models.prompt_predictor import Prediction
from gms_models.runtime.decoder_feeds import OnnxPromptPredictor
from gms_models.runtime.errors import BundleError
from gms_models.runtime.manifest import (
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    BundleManifest,
    Precision,
    RuntimeName,
)
from gms_models.runtime.sessions import Session, open_session


class BundlePredictor(OnnxPromptPredictor):
    """``encoder`` may be ``None`` when embeddings come from elsewhere (:meth:`set_features`)."""

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        runtime: RuntimeName = "onnxruntime",
        encoder_precision: Precision | None = None,
        device: str = "cpu",
    ) -> BundlePredictor:
        """``encoder_precision`` None: the first encoder; ``device``: ONNX Runtime's."""
        folder = Path(folder)
        manifest = BundleManifest.read(folder)
        if manifest.profile != "nanosam":
            raise BundleError(
                f"{folder} holds the {manifest.profile!r} ONNX profile; open it with "
                "gms_models.runtime.sam_onnx.SamOnnxPredictor"
            )
        art = manifest.find("encoder", runtime, encoder_precision)
        if art is None and encoder_precision is not None:
            raise BundleError(f"{folder} has no {encoder_precision} {runtime} image encoder")

        def session(file: str) -> Session:
            return open_session(folder / file, runtime, device=device, ort=manifest.ort_settings)

        return cls(
            manifest.img_size,
            None if art is None else session(art.file),
            {m: session(dec.file) for m, dec in manifest.decoders(runtime).items()},
            pixel_mean=manifest.pixel_mean,
            pixel_std=manifest.pixel_std,
            name=f"{folder} ({runtime})",
        )

    def _embed(self, x: np.ndarray) -> np.ndarray:
        if self.encoder is None:
            raise BundleError(
                f"{self.name} has no image encoder; use set_features() with embeddings computed "
                "elsewhere"
            )
        return self.encoder.run({ENCODER_INPUT: x})[ENCODER_OUTPUT]

    def _decode(
        self,
        features: np.ndarray,
        prompts: PromptBatch,
        multimask_output: bool,
        return_logits: bool,
    ) -> Prediction:
        assert self.original_size is not None and self.input_size is not None
        hint = "export one with a SAM checkpoint for the prompt encoder and mask decoder"
        out = self._decoder(multimask_output, hint).run(
            self.decoder_feeds(features, prompts, self.img_size // 4)
        )
        low_res = out["low_res_masks"]
        threshold = None if return_logits else MASK_THRESHOLD
        masks = postprocess_masks(
            low_res, self.input_size, self.original_size, self.img_size, threshold
        )
        return Prediction(masks, out["iou_predictions"], low_res)
