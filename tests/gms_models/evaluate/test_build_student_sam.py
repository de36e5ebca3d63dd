"""Building a student SAM from a student checkpoint and the teacher's prompt encoder/decoder."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from gms_models.checkpoint import load_student, save_student
from gms_models.errors import CheckpointError
from gms_models.evaluate.run import build_student_sam, checkpoint_teacher_size
from gms_models.registry import build_encoder
from tests.tolerances import FUSED_FORM_ATOL

ARCH = "gmf_2282"
SIZE = 256


@pytest.fixture(scope="module")
def student_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(3)
    encoder = build_encoder(ARCH, img_size=SIZE)
    path = tmp_path_factory.mktemp("student") / "student.pt"
    config = {"arch": ARCH, "img_size": SIZE, "teacher_size": 512}
    return save_student(
        path, arch=ARCH, img_size=SIZE, state_dict=encoder.state_dict(), config=config
    )


def _decoder_state(sam: torch.nn.Module) -> dict[str, torch.Tensor]:
    parts = ("prompt_encoder.", "mask_decoder.")
    return {k: v for k, v in sam.state_dict().items() if k.startswith(parts)}


def test_student_behind_the_teachers_decoder(student_ckpt: Path, teacher_ckpt: Path) -> None:
    sam = build_student_sam(ARCH, student_ckpt, teacher_ckpt)
    assert sam.img_size == SIZE and not sam.training
    # The encoder is the deployed (re-parameterised) form of the stored student.
    student = load_student(student_ckpt, expected_arch=ARCH).eval()
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = student(x)
        torch.testing.assert_close(sam.image_encoder(x), expected, rtol=0, atol=FUSED_FORM_ATOL)
    assert expected.abs().max() > 0.1
    teacher_state = torch.load(teacher_ckpt, weights_only=True)
    for key, value in _decoder_state(sam).items():
        assert torch.equal(value, teacher_state[key]), key
    assert checkpoint_teacher_size(student_ckpt) == 512

    bigger = build_student_sam(ARCH, student_ckpt, teacher_ckpt, img_size=512)
    assert bigger.img_size == 512
    assert bigger.prompt_encoder.image_embedding_size == (32, 32)


def test_checkpoint_of_another_arch_is_refused(student_ckpt: Path, teacher_ckpt: Path) -> None:
    with pytest.raises(CheckpointError, match=r"holds a 'gmf_2282' student, but 'vit_t'"):
        build_student_sam("vit_t", student_ckpt, teacher_ckpt)


def test_teacherless_build_warns_and_is_reproducible(
    student_ckpt: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gms_models.evaluate.run"):
        first = build_student_sam(ARCH, student_ckpt)
    assert "no teacher checkpoint" in caplog.text and "randomly initialised" in caplog.text
    torch.manual_seed(12345)  # the decoder's seed is fixed, whatever the global RNG holds
    second = build_student_sam(ARCH, student_ckpt)
    for key, value in _decoder_state(first).items():
        assert torch.equal(value, _decoder_state(second)[key]), key
