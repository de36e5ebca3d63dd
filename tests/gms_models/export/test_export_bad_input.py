"""Bad input and failed checks: clear errors, and nothing half-written anywhere."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gms_models.errors import CheckpointError, ConfigError
from gms_models.export import (
    ExportError,
    ExportSources,
    ParityError,
    export_bundle,
    export_encoder_onnx,
    student_sources,
    teacher_sources,
)
from gms_models.runtime import BackendUnavailableError

SIZE = 32


class TraceMismatch(nn.Module):
    """An encoder whose eager output changes per call while the trace bakes in the first one,
    so its ONNX export always fails parity."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 256, 16, stride=16)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x) * float(self.calls)


class TinyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 256, 16, stride=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _sources(encoder: nn.Module) -> ExportSources:
    return ExportSources(arch="tiny", img_size=SIZE, encoder=encoder, encoder_source=None)


IMAGE = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)


def test_failed_parity_leaves_no_file(tmp_path: Path) -> None:
    message = r"'image_embeddings' differs from pytorch.*relative L2 [0-9.]+ > tolerance 0\.0001"
    with pytest.raises(ParityError, match=message):
        export_encoder_onnx(
            TraceMismatch(), tmp_path / "tiny.onnx", arch="tiny", img_size=SIZE, parity_image=IMAGE
        )
    assert list(tmp_path.iterdir()) == []


def test_failed_bundle_leaves_no_folder(tmp_path: Path) -> None:
    with pytest.raises(ParityError):
        export_bundle(tmp_path / "out", _sources(TraceMismatch()), parity_image=IMAGE)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_previous_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_bundle(out, _sources(TinyEncoder()), parity_image=IMAGE)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ParityError):
        export_bundle(out, _sources(TraceMismatch()), parity_image=IMAGE, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("opset", [12, 21, 7])
def test_unsupported_opset_names_the_range(tmp_path: Path, opset: int) -> None:
    with pytest.raises(ExportError, match=rf"unsupported ONNX opset {opset}.*opsets 13 to 20"):
        export_bundle(tmp_path / "out", _sources(TinyEncoder()), opset=opset, parity_image=IMAGE)
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("keep me")
    with pytest.raises(ExportError, match=r"out exists and is a file"):
        export_bundle(out, _sources(TinyEncoder()), parity_image=IMAGE)
    assert out.read_text() == "keep me"
    assert list(tmp_path.iterdir()) == [out]


def test_foreign_or_existing_folder_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"not a gms export"):
        export_bundle(foreign, _sources(TinyEncoder()), parity_image=IMAGE, overwrite=True)
    done = tmp_path / "done"
    export_bundle(done, _sources(TinyEncoder()), parity_image=IMAGE)
    with pytest.raises(ExportError, match=r"already holds an export.*--overwrite"):
        export_bundle(done, _sources(TinyEncoder()), parity_image=IMAGE)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_teacher_checkpoint_with_a_student_arch(teacher_ckpt: Path) -> None:
    with pytest.raises(CheckpointError, match=r"'vit_t'.*--arch 'resnet18'"):
        teacher_sources("resnet18", teacher_ckpt)


def test_student_checkpoint_of_another_arch_names_both(
    student_checkpoint: Callable[[str], Path],
) -> None:
    with pytest.raises(CheckpointError, match=r"'resnet18' student.*'gmf_2282' was expected"):
        student_sources("gmf_2282", student_checkpoint("resnet18"))


def test_student_with_another_img_size(student_checkpoint: Callable[[str], Path]) -> None:
    with pytest.raises(ConfigError, match=r"--img-size 1024 differs from the 256"):
        student_sources("resnet18", student_checkpoint("resnet18"), img_size=1024)


def test_teacher_checkpoint_given_as_student(teacher_ckpt: Path) -> None:
    with pytest.raises(CheckpointError, match=r"not a gms student checkpoint"):
        student_sources("vit_t", teacher_ckpt)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here"
)
def test_tensorrt_unavailable_fails_before_writing(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match=r"'tensorrt' Python package is missing"):
        export_bundle(tmp_path / "out", _sources(TinyEncoder()), tensorrt=True, parity_image=IMAGE)
    with pytest.raises(ExportError, match=r"fp16 applies to TensorRT engines"):
        export_bundle(tmp_path / "out", _sources(TinyEncoder()), fp16=True, parity_image=IMAGE)
    assert list(tmp_path.iterdir()) == []
