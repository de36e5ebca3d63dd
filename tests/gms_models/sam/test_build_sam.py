"""build_sam: image sizes, student encoders plugged into the stock decoder, wrong layouts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gms_models.errors import CheckpointError, ConfigError
from gms_models.sam import SamPredictor, build_sam, build_sam_vit_t


class PatchStudent(nn.Module):
    """The smallest valid student: one stride-16 conv to 256 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 256, kernel_size=16, stride=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


@pytest.mark.parametrize("img_size", [256, 512])
def test_teacher_runs_end_to_end_at_smaller_sizes(
    img_size: int, teacher_ckpt: Path, image_rgb: Callable[[str], np.ndarray]
) -> None:
    predictor = SamPredictor(build_sam_vit_t(checkpoint=teacher_ckpt, img_size=img_size))
    image = image_rgb("000000020992")  # 333x500, non-integer scale
    predictor.set_image(image)
    grid = img_size // 16
    assert predictor.get_image_embedding().shape == (1, 256, grid, grid)
    assert predictor.input_size == (round(333 * img_size / 500), img_size)
    masks, iou, low_res = predictor.predict(box=np.array([10, 20, 300, 250]))
    assert masks.shape == (3, 333, 500) and masks.dtype == np.bool_
    assert iou.shape == (3,) and low_res.shape == (3, img_size // 4, img_size // 4)
    assert np.isfinite(low_res).all()


def test_student_gets_teacher_prompt_encoder_and_decoder(
    teacher_ckpt: Path, image_rgb: Callable[[str], np.ndarray]
) -> None:
    torch.manual_seed(0)
    student = PatchStudent()
    student_before = copy.deepcopy(student.state_dict())
    sam = build_sam(image_encoder=student, checkpoint=teacher_ckpt, img_size=256)
    teacher = torch.load(teacher_ckpt, weights_only=True)
    for key, value in sam.state_dict().items():
        if key.startswith(("prompt_encoder.", "mask_decoder.")):
            assert torch.equal(value, teacher[key]), key
    assert all(torch.equal(student.state_dict()[k], v) for k, v in student_before.items())
    predictor = SamPredictor(sam)
    predictor.set_image(image_rgb("000000104455"))
    masks, _, low_res = predictor.predict(point_coords=[[320, 240]], point_labels=[1])
    assert masks.shape == (3, 480, 640) and low_res.shape == (3, 64, 64)


def test_student_with_incomplete_decoder_checkpoint_fails(teacher_ckpt: Path) -> None:
    state = torch.load(teacher_ckpt, weights_only=True)
    del state["mask_decoder.iou_token.weight"]
    state["prompt_encoder.no_mask_embed.weight"] = torch.zeros(1, 128)
    with pytest.raises(CheckpointError) as err:
        build_sam(image_encoder=PatchStudent(), checkpoint=state, img_size=256)
    message = str(err.value)
    assert "1 missing key: mask_decoder.iou_token.weight" in message
    assert "prompt_encoder.no_mask_embed.weight (checkpoint [1, 128] vs model [1, 256])" in message


def test_wrong_layout_checkpoint_lists_every_problem(teacher_ckpt: Path, tmp_path: Path) -> None:
    state = torch.load(teacher_ckpt, weights_only=True)
    renamed = {k.replace("layers.", "stages.", 1): v for k, v in state.items()}
    renamed["mask_decoder.mask_tokens.weight"] = torch.zeros(5, 256)
    path = tmp_path / "wrong_layout.pt"
    torch.save(renamed, path)
    with pytest.raises(CheckpointError) as err:
        build_sam_vit_t(checkpoint=path)
    message = str(err.value)
    n_layers = sum(".layers." in k for k in state)
    assert str(path) in message
    assert f"{n_layers} missing keys: image_encoder.layers.0." in message
    assert f"{n_layers} unexpected keys: image_encoder.stages.0." in message
    assert f"({n_layers - 5} more)" in message
    assert "1 mis-shaped key: mask_decoder.mask_tokens.weight (checkpoint [5, 256]" in message


def test_non_strict_teacher_load_tolerates_a_missing_head(teacher_ckpt: Path) -> None:
    state = torch.load(teacher_ckpt, weights_only=True)
    headless = {k: v for k, v in state.items() if ".head." not in k and "norm_head" not in k}
    with pytest.raises(CheckpointError, match="4 missing keys"):
        build_sam(checkpoint=headless)
    sam = build_sam(checkpoint=headless, strict=False)
    assert torch.equal(
        sam.state_dict()["mask_decoder.iou_token.weight"], state["mask_decoder.iou_token.weight"]
    )


def test_image_size_must_be_a_multiple_of_16() -> None:
    with pytest.raises(ConfigError, match="multiple of 16"):
        build_sam(img_size=1000)
