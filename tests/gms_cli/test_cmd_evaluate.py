"""`gms evaluate` through the real entry point: outputs on coco-mini and a generated MALSD
folder, and bad input turned into `error: ...` with exit status 2."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from gms_cli.main import main
from gms_models.checkpoint import save_student
from gms_models.data.demo import demo_paths, generate_demo
from gms_models.registry import build_encoder

ARCH = "gmf_2282"
SIZE = 256


@pytest.fixture(scope="module")
def student_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained gmf_2282 student at 256, in the trainer's checkpoint format."""
    torch.manual_seed(0)
    encoder = build_encoder(ARCH, img_size=SIZE)
    path = tmp_path_factory.mktemp("student") / "student.pt"
    config = {"arch": ARCH, "img_size": SIZE, "teacher_size": SIZE}
    return save_student(
        path, arch=ARCH, img_size=SIZE, state_dict=encoder.state_dict(), config=config
    )


@pytest.fixture(scope="module")
def malsd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "data"
    generate_demo(root, seed=0, scale="tiny")
    return demo_paths(root)["malsd"]


def run_gms(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["gms", "evaluate", *args])
    monkeypatch.setenv("COLUMNS", "1000")  # rich would wrap the error message at 80 columns
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def _coco_args(coco_mini: Path) -> list[str]:
    return [
        "--coco",
        str(coco_mini / "annotations" / "instances_val2017.json"),
        "--images",
        str(coco_mini / "val2017"),
    ]


def test_teacher_only_on_coco(
    tmp_path: Path,
    coco_mini: Path,
    teacher_ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "eval"
    args = ["--teacher-only", "--teacher", str(teacher_ckpt), *_coco_args(coco_mini)]
    args += ["--max-images", "1", "--img-size", str(SIZE), "--grid", "1", "--out", str(out)]
    code, stdout, stderr = run_gms([*args, "--no-progress"], monkeypatch, capsys)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    records = json.loads((out / "per_annotation.json").read_text())["per_annotation"]
    assert metrics["reference"] == "gt" and metrics["img_size"] == SIZE
    assert metrics["images"] == 1 and metrics["prompts"] == len(records) == 17
    assert metrics["settings"]["against"] == "gt" and metrics["settings"]["student"] is None
    assert metrics["miou"] == pytest.approx(sum(r["iou"] for r in records) / len(records))
    assert (out / "grid.png").stat().st_size > 0
    assert "miou_small" in stdout and f"wrote {out / 'grid.png'}" in stderr


def test_student_against_teacher_on_malsd(
    tmp_path: Path,
    malsd: Path,
    student_ckpt: Path,
    teacher_ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "eval"
    args = ["--arch", ARCH, "--student", str(student_ckpt), "--teacher", str(teacher_ckpt)]
    args += ["--malsd", str(malsd), "--grid", "2", "--out", str(out), "--no-progress"]
    code, _, stderr = run_gms(args, monkeypatch, capsys)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    records = json.loads((out / "per_prompt.json").read_text())["per_prompt"]
    assert metrics["settings"]["against"] == "teacher" and metrics["settings"]["arch"] == ARCH
    assert metrics["img_size"] == metrics["reference_img_size"] == SIZE  # the distillation size
    assert len(records) == metrics["prompts"] == 4 and 0.0 <= metrics["miou"] <= 1.0
    assert (out / "grid.png").is_file()


def _broken_malsd(malsd: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "malsd"
    shutil.copytree(malsd, copy)
    return copy


@pytest.mark.parametrize("breakage", ["missing_class", "missing_points"])
def test_bad_malsd_folder(
    breakage: str,
    tmp_path: Path,
    malsd: Path,
    teacher_ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = _broken_malsd(malsd, tmp_path)
    if breakage == "missing_class":
        shutil.rmtree(root / "test" / "NG")
        expected = f"MALSD class folder missing: {root / 'test' / 'NG'}"
    else:
        (root / "test_points.json").unlink()
        expected = f"MALSD points file not found: {root / 'test_points.json'}"
    # the dataset is checked before any model is loaded: the student file is never opened
    student_args = ["--arch", ARCH, "--student", "unused.pt", "--teacher", str(teacher_ckpt)]
    code, _, stderr = run_gms([*student_args, "--malsd", str(root)], monkeypatch, capsys)
    assert code == 2
    assert stderr.startswith("error:") and expected in stderr


def test_coco_json_naming_missing_images(
    tmp_path: Path,
    coco_mini: Path,
    teacher_ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dataset = json.loads((coco_mini / "annotations" / "instances_val2017.json").read_text())
    dataset["images"][0]["file_name"] = "not_there.jpg"
    ann_file = tmp_path / "instances.json"
    ann_file.write_text(json.dumps(dataset))
    args = ["--teacher-only", "--teacher", str(teacher_ckpt), "--coco", str(ann_file)]
    code, _, stderr = run_gms([*args, "--images", str(coco_mini / "val2017")], monkeypatch, capsys)
    assert code == 2
    assert stderr.startswith("error: 1 of 80 images named in") and "not_there.jpg" in stderr


def test_student_checkpoint_of_another_arch(
    coco_mini: Path,
    student_ckpt: Path,
    teacher_ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--arch", "vit_t", "--student", str(student_ckpt), "--teacher", str(teacher_ckpt)]
    code, _, stderr = run_gms(
        [*args, *_coco_args(coco_mini), "--max-images", "1"], monkeypatch, capsys
    )
    assert code == 2
    assert stderr.startswith("error:") and str(student_ckpt) in stderr
    assert "holds a 'gmf_2282' student, but 'vit_t' was expected" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--student", "s.pt"], "--student needs --arch"),
        (["--teacher-only", "--student", "s.pt"], "either --student CKPT or --teacher-only"),
        (["--teacher-only", "--malsd", "m", "--coco", "c.json"], "either --coco"),
        (["--teacher-only", "--coco", "c.json"], "--coco needs --images"),
        (["--teacher-only", "--malsd", "m", "--against", "gt"], "MALSD has no ground-truth"),
        (["--teacher-only", "--malsd", "m"], "compare the teacher with itself"),
    ],
)
def test_impossible_option_combinations(
    args: list[str],
    message: str,
    teacher_ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, stderr = run_gms([*args, "--teacher", str(teacher_ckpt)], monkeypatch, capsys)
    assert code == 2
    assert stderr.startswith("error:") and message in stderr
