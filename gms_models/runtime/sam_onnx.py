"""Segment with the SAM-standard ONNX profile (SAM's decoder interface, B prompts per call)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gms_models.geometry import MASK_THRESHOLD, PromptBatch, check_rgb_image, resize_longest_side
from gms_models.prompt_predictor import Prediction
from gms_models.runtime.decoder_feeds import OnnxPromptPredictor
from gms_models.runtime.errors import BundleError
from gms_models.runtime.manifest import DECODER_INPUTS, ENCODER_OUTPUT, BundleManifest
from gms_models.runtime.sessions import OnnxRuntimeSession, Session

SAM_PROFILE = "sam"
SAM_IMG_SIZE = 1024
SAM_MASK_SIZE = 256
SAM_ENCODER_INPUT = "input_image"
SAM_DECODER_INPUTS = (*DECODER_INPUTS, "orig_im_size")
SAM_DECODER_OUTPUTS = ("masks", "iou_predictions", "low_res_masks")


class SamOnnxPredictor(OnnxPromptPredictor):
    """The graphs normalise, pad and upsample themselves; only the resize is done here."""

    def __init__(
        self, encoder: Session, decoders: dict[bool, Session], name: str = "SAM-profile model"
    ):
        # Packages exported before the multimask file have only the single-mask one.
        super().__init__(SAM_IMG_SIZE, encoder, decoders, name=name)
        self.encoder: Session = encoder

    @classmethod
    def from_folder(cls, folder: str | Path) -> SamOnnxPredictor:
        folder = Path(folder)
        manifest = BundleManifest.read(folder)
        if manifest.profile != SAM_PROFILE:
            raise BundleError(
                f"{folder} holds the {manifest.profile!r} ONNX profile, not {SAM_PROFILE!r}"
            )
        encoder = manifest.find("encoder", "onnxruntime", "fp32")
        decoders = manifest.decoders("onnxruntime", "fp32")
        if encoder is None or False not in decoders:
            raise BundleError(f"{folder} lacks the SAM-profile encoder or decoder ONNX file")

        def session(file: str) -> Session:
            return OnnxRuntimeSession(folder / file, settings=manifest.ort_settings)

        enc = session(encoder.file)
        return cls(enc, {k: session(a.file) for k, a in decoders.items()}, name=str(folder))

    def set_image(self, image: np.ndarray) -> None:
        check_rgb_image(image)
        resized = resize_longest_side(image, SAM_IMG_SIZE)
        feeds = {SAM_ENCODER_INPUT: resized.astype(np.float32)}
        self.features = self.encoder.run(feeds)[ENCODER_OUTPUT]
        self.original_size = (image.shape[0], image.shape[1])
        self.input_size = (resized.shape[0], resized.shape[1])

    def _embed(self, x: np.ndarray) -> np.ndarray:
        raise BundleError(f"{self.name}: the SAM-profile encoder takes the image; use set_image()")

    def _decode(
        self,
        features: np.ndarray,
        prompts: PromptBatch,
        multimask_output: bool,
        return_logits: bool,
    ) -> Prediction:
        assert self.original_size is not None
        decoder = self._decoder(multimask_output, "re-export it with `gms export --profile sam`")
        if prompts.mask_input is not None and prompts.mask_input.shape[0] != 1:
            raise BundleError("the SAM-profile decoder takes one mask input (1,1,256,256) per call")
        feeds = self.decoder_feeds(features, prompts, SAM_MASK_SIZE)
        feeds["orig_im_size"] = np.array(self.original_size, np.float32)
        out = decoder.run(feeds)
        masks = out["masks"] if return_logits else out["masks"] > MASK_THRESHOLD
        return Prediction(masks, out["iou_predictions"], out["low_res_masks"])
