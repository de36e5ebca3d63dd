"""Segment with the SAM-standard ONNX profile: the two files SAM-family tools run.

The profile is the interface of the official segment-anything ONNX decoder, plus an encoder that
takes the resized image itself:

* encoder: ``input_image`` (H,W,3) float32 RGB 0-255 with the longer side 1024 -> normalised and
  zero-padded inside -> ``image_embeddings`` (1,256,64,64);
* decoder: ``image_embeddings``, ``point_coords`` (B,N,2) in the resized-1024 frame,
  ``point_labels`` (B,N) (1/0 points, 2/3 box corners, -1 padding), ``mask_input`` (1,1,256,256),
  ``has_mask_input`` (1,), ``orig_im_size`` (2,) -> ``masks`` (B,C,H,W) logits at the original
  size, ``iou_predictions`` (B,C), ``low_res_masks`` (B,C,256,256). SAM tools pass B = 1; B
  prompts at once is this export's extension.

:class:`SamOnnxPredictor` drives the two files with the predictor interface of ``gms segment``
(``set_image``, ``predict_batch``), with numpy, Pillow and ONNX Runtime only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gms_models.runtime.errors import BundleError
from gms_models.runtime.manifest import ENCODER_OUTPUT, BundleManifest
from gms_models.runtime.predictor import MASK_THRESHOLD, Prediction
from gms_models.runtime.preprocess import check_rgb_image, resize_longest_side, scale_coords
from gms_models.runtime.prompts import check_prompts, encode_prompt_points
from gms_models.runtime.sessions import OnnxRuntimeSession

SAM_PROFILE = "sam"
SAM_IMG_SIZE = 1024
SAM_MASK_SIZE = 256
SAM_ENCODER_INPUT = "input_image"
SAM_DECODER_INPUTS = (
    "image_embeddings",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
)
SAM_DECODER_OUTPUTS = ("masks", "iou_predictions", "low_res_masks")


class SamOnnxPredictor:
    """One image's embedding from the SAM-profile encoder, prompts decoded against it."""

    def __init__(self, encoder: OnnxRuntimeSession, decoder: OnnxRuntimeSession, name: str):
        self.encoder = encoder
        self.decoder = decoder
        self.name = name
        self.features: np.ndarray | None = None
        self.original_size: tuple[int, int] | None = None

    @classmethod
    def from_folder(cls, folder: str | Path) -> SamOnnxPredictor:
        """Open a folder written by ``gms export --profile sam``."""
        folder = Path(folder)
        manifest = BundleManifest.read(folder)
        if manifest.profile != SAM_PROFILE:
            raise BundleError(
                f"{folder} holds the {manifest.profile!r} ONNX profile, not {SAM_PROFILE!r}"
            )
        encoder = manifest.find("encoder", "onnxruntime", "fp32")
        decoder = manifest.find("decoder", "onnxruntime", "fp32", False)
        if encoder is None or decoder is None:
            raise BundleError(f"{folder} lacks the SAM-profile encoder or decoder ONNX file")
        return cls(
            OnnxRuntimeSession(folder / encoder.file),
            OnnxRuntimeSession(folder / decoder.file),
            name=str(folder),
        )

    def set_image(self, image: np.ndarray) -> None:
        """Embed an H×W×3 uint8 RGB image (resized here; normalised and padded by the graph)."""
        check_rgb_image(image)
        resized = resize_longest_side(image, SAM_IMG_SIZE).astype(np.float32)
        self.features = self.encoder.run({SAM_ENCODER_INPUT: resized})[ENCODER_OUTPUT]
        self.original_size = (image.shape[0], image.shape[1])

    def predict_batch(
        self,
        boxes: np.ndarray | None = None,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = False,
    ) -> Prediction:
        """N prompts in original-image pixels: boxes (N,4) and/or points (N,K,2), labels (N,K).

        The profile's decoder gives one mask per prompt (SAM's single-mask token).
        """
        if self.features is None or self.original_size is None:
            raise BundleError("set an image with set_image() before predicting")
        if multimask_output:
            raise BundleError(f"{self.name}: the SAM profile decoder gives one mask per prompt")
        prompts = check_prompts(
            self.original_size,
            boxes=boxes,
            points=points,
            labels=labels,
            mask_input=mask_input,
            mask_size=SAM_MASK_SIZE,
        )
        if prompts.mask_input is not None and prompts.mask_input.shape[0] != 1:
            raise BundleError("the SAM profile takes one mask input (1,1,256,256) per call")
        coords, point_labels = encode_prompt_points(
            None if prompts.points is None else self._scale(prompts.points),
            prompts.labels,
            None if prompts.boxes is None else self._scale(prompts.boxes.reshape(-1, 2, 2)),
        )
        has_mask = prompts.mask_input is not None
        out = self.decoder.run(
            {
                "image_embeddings": self.features,
                "point_coords": coords,
                "point_labels": point_labels,
                "mask_input": prompts.mask_input
                if has_mask
                else np.zeros((1, 1, SAM_MASK_SIZE, SAM_MASK_SIZE), np.float32),
                "has_mask_input": np.array([float(has_mask)], np.float32),
                "orig_im_size": np.array(self.original_size, np.float32),
            }
        )
        return Prediction(
            out["masks"] > MASK_THRESHOLD, out["iou_predictions"], out["low_res_masks"]
        )

    def _scale(self, coords: np.ndarray) -> np.ndarray:
        assert self.original_size is not None
        return scale_coords(coords, self.original_size, SAM_IMG_SIZE)
