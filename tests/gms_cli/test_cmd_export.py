"""``gms export``: a student exported from its checkpoint (encoder + INT8), and bad input refused
with a clear error before anything is written."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.checkpoint import save_student
from gms_models.errors import CheckpointError, ConfigError
from gms_models.export import ExportError
from gms_models.registry import build_encoder
from gms_models.runtime import BackendUnavailableError

runner = CliRunner()
SIZE = 256


@pytest.fixture(scope="module")
def resnet18_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_encoder("resnet18", img_size=SIZE)
    path = tmp_path_factory.mktemp("student") / "student.pt"
    save_student(path, arch="resnet18", img_size=SIZE, state_dict=model.state_dict(), config={})
    return path


def test_export_student_with_int8(resnet18_student: Path, coco_mini: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    args = ["export", "--arch", "resnet18", "--student", str(resnet18_student), "--out", str(out)]
    args += ["--dynamic-batch", "--opset", "18", "--int8-calib", str(coco_mini / "val2017")]
    args += [
        "--int8-max-images",
        "2",
        "--parity-image",
        str(coco_mini / "val2017" / "000000020992.jpg"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    manifest = json.loads((out / "bundle.json").read_text())
    assert [(a["file"], a["precision"]) for a in manifest["artifacts"]] == [
        ("resnet18.onnx", "fp32"),
        ("resnet18.int8.onnx", "int8"),
    ]
    meta = json.loads((out / "resnet18.onnx.json").read_text())
    assert (meta["opset"], meta["img_size"], meta["inputs"][0]["shape"][0]) == (18, SIZE, "batch")
    assert "int8" in result.output and "(pytorch)" in result.output
    assert "no --decoder-checkpoint" in result.output


def _args(tmp_path: Path, *extra: str) -> list[str]:
    return ["export", "--out", str(tmp_path / "out"), *extra]


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("opset", ExportError, r"unsupported ONNX opset 11: .* opsets 13 to 20"),
        ("arch", CheckpointError, r"'resnet18' student, but 'gmf_2282' was expected"),
        ("teacher arch", CheckpointError, r"--teacher checkpoints hold the 'vit_t' encoder"),
        ("both", ConfigError, r"exactly one of --student CKPT or --teacher CKPT"),
        ("tensorrt", BackendUnavailableError, r"TensorRT is not installed here"),
        ("fp16", ExportError, r"fp16 applies to TensorRT engines"),
    ],
)
def test_bad_input_is_refused_before_writing(
    resnet18_student: Path,
    teacher_ckpt: Path,
    tmp_path: Path,
    case: str,
    error: type[Exception],
    message: str,
) -> None:
    student = ["--student", str(resnet18_student)]
    args = {
        "opset": _args(tmp_path, "--arch", "resnet18", *student, "--opset", "11"),
        "arch": _args(tmp_path, "--arch", "gmf_2282", *student),
        "teacher arch": _args(tmp_path, "--arch", "resnet18", "--teacher", str(teacher_ckpt)),
        "both": _args(tmp_path, "--arch", "vit_t", *student, "--teacher", str(teacher_ckpt)),
        "tensorrt": _args(tmp_path, "--arch", "resnet18", *student, "--tensorrt"),
        "fp16": _args(tmp_path, "--arch", "resnet18", *student, "--fp16"),
    }[case]
    if case == "tensorrt" and importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here, so this export would go ahead")
    result = runner.invoke(app, args)
    assert isinstance(result.exception, error), (result.output, result.exception)
    assert re.search(message, str(result.exception)), str(result.exception)
    assert list(tmp_path.iterdir()) == []


def test_output_that_is_a_file(resnet18_student: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("keep")
    result = runner.invoke(
        app, _args(tmp_path, "--arch", "resnet18", "--student", str(resnet18_student))
    )
    assert isinstance(result.exception, ExportError)
    assert "exists and is a file" in str(result.exception)
    assert out.read_text() == "keep" and list(tmp_path.iterdir()) == [out]
