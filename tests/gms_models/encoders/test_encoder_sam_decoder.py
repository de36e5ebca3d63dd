"""Student features feed the stock SAM prompt encoder and mask decoder without an adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gms_models.encoders import groupmixformer, resnet18  # noqa: F401  (registers them)
from gms_models.registry import build_encoder
from gms_models.sam import build_sam

NAMES = ["gmf_33124", "gmf_3312", "gmf_3344", "gmf_2264", "gmf_2282", "resnet18"]


@pytest.fixture(scope="module")
def teacher_state(teacher_ckpt: Path) -> dict[str, torch.Tensor]:
    """The teacher checkpoint, read once: its prompt encoder and mask decoder are used."""
    return torch.load(teacher_ckpt, weights_only=True)


def _decode_box(name: str, img_size: int, state: dict) -> tuple[torch.Tensor, torch.Tensor]:
    encoder = build_encoder(name, img_size=img_size)
    sam = build_sam(image_encoder=encoder, checkpoint=state, img_size=img_size)
    with torch.no_grad():
        feats = sam.image_encoder(torch.randn(1, 3, img_size, img_size))
        box = torch.tensor([[0.1, 0.2, 0.6, 0.9]]) * img_size
        return sam.decode(feats, boxes=box, multimask_output=True)


@pytest.mark.parametrize("name", NAMES)
def test_decoder_runs_on_student_features_at_256(name: str, teacher_state: dict) -> None:
    masks, iou = _decode_box(name, 256, teacher_state)
    assert masks.shape == (1, 3, 64, 64)
    assert iou.shape == (1, 3)
    assert torch.isfinite(masks).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_decoder_runs_on_student_features_at_1024(name: str, teacher_state: dict) -> None:
    masks, iou = _decode_box(name, 1024, teacher_state)
    assert masks.shape == (1, 3, 256, 256)
    assert iou.shape == (1, 3)
