"""``gms distill``: options, a small real run with the MobileSAM teacher, resume, YAML config and
bad input. The student is gmf_2282 at 64 pixels so a run takes seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.checkpoint import read_checkpoint
from gms_models.errors import ConfigError, DataError

runner = CliRunner()
GMS = str(Path(sys.executable).with_name("gms"))  # the installed console script


@pytest.fixture(scope="module")
def coco4(coco_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("coco4")
    for image in sorted((coco_mini / "val2017").glob("*.jpg"))[:4]:
        (folder / image.name).symlink_to(image)
    return folder


def _args(images: Path, teacher: Path, out: Path, *extra: str) -> list[str]:
    return [
        "distill",
        "--arch",
        "gmf_2282",
        "--images",
        str(images),
        "--teacher",
        str(teacher),
        "--teacher-backend",
        "torch",
        "--img-size",
        "64",
        "--batch-size",
        "2",
        "--num-workers",
        "0",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["distill", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--arch",
        "--images",
        "--teacher",
        "--teacher-backend",
        "--epochs",
        "--batch-size",
        "--lr",
        "--img-size",
        "--teacher-size",
        "--out",
        "--resume",
        "--seed",
        "--on-error",
        "--config",
    ):
        assert option in result.stdout, option


def test_run_then_resume_with_more_epochs(coco4: Path, teacher_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(app, _args(coco4, teacher_ckpt, out, "--epochs", "1"))
    assert first.exit_code == 0, first.output
    assert f"student checkpoint: {out / 'student.pt'}" in first.stdout
    assert "epochs 1" in first.stdout and "images seen 4" in first.stdout
    assert read_checkpoint(out / "last.pt")["epoch"] == 1

    again = runner.invoke(app, _args(coco4, teacher_ckpt, out, "--epochs", "2"))
    assert isinstance(again.exception, ConfigError) and "--resume" in str(again.exception)

    resumed = runner.invoke(app, _args(coco4, teacher_ckpt, out, "--epochs", "2", "--resume"))
    assert resumed.exit_code == 0, resumed.output
    state = read_checkpoint(out / "last.pt")
    assert (state["epoch"], state["images_seen"], len(state["loss_history"])) == (2, 8, 2)
    assert (out / "features" / "epoch_002.png").is_file()


def test_yaml_config_with_a_distill_section_and_command_line_overrides(
    coco4: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "distill:\n"
        "  arch: gmf_2282\n"
        f"  images: {coco4}\n"
        f"  teacher: {teacher_ckpt}\n"
        "  teacher_backend: torch\n"
        "  img_size: 64\n"
        "  epochs: 3\n"
        "  batch_size: 4\n"
        "  lr: 0.001\n"
        "  num_workers: 0\n"
        f"  out_dir: {tmp_path / 'from-yaml'}\n"
    )
    result = runner.invoke(
        app, ["distill", "--config", str(params), "--epochs", "1", "--seed", "5", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    config = read_checkpoint(tmp_path / "from-yaml" / "student.pt")["config"]
    assert (config["epochs"], config["seed"], config["lr"], config["batch_size"]) == (1, 5, 1e-3, 4)


def test_empty_image_folder_and_missing_fields_are_clear_errors(
    teacher_ckpt: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, _args(tmp_path / "empty", teacher_ckpt, tmp_path / "run"))
    assert isinstance(result.exception, DataError)
    assert str(tmp_path / "empty") in str(result.exception)

    result = runner.invoke(app, ["distill", "--images", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)
    assert "arch" in str(result.exception) and "teacher" in str(result.exception)


def test_error_exit_status_and_message_of_the_gms_command(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    images, out = str(tmp_path / "empty"), str(tmp_path / "run")
    completed = subprocess.run(
        [
            GMS,
            "distill",
            "--arch",
            "gmf_2282",
            "--images",
            images,
            "--teacher",
            "t.pt",
            "--out",
            out,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 2, completed.stderr
    assert "error:" in completed.stderr and "empty" in completed.stderr


@pytest.mark.slow
def test_gms_distill_killed_with_sigkill_resumes_to_the_uninterrupted_weights(
    coco4: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    """Three ``gms distill`` processes: uninterrupted, killed after epoch 1, resumed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(out: Path, *extra: str) -> subprocess.Popen[str]:
        args = _args(coco4, teacher_ckpt, out, "--epochs", "3", "--batch-size", "1", *extra)
        return subprocess.Popen([GMS, *args], env=env, text=True, stderr=subprocess.PIPE)

    full = run(tmp_path / "full")
    victim = run(tmp_path / "killed")
    state_file = tmp_path / "killed" / "last.pt"
    deadline = time.monotonic() + 500
    while not state_file.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.poll() is None, f"ended early: {victim.communicate()[1][-3000:]}"
    os.kill(victim.pid, signal.SIGKILL)  # epoch 1 is on disk; epoch 2 (of 4 steps) is next
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert read_checkpoint(state_file)["epoch"] == 1

    resumed = run(tmp_path / "killed", "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read() if resumed.stderr else ""
    assert full.wait(timeout=600) == 0
    ours = read_checkpoint(tmp_path / "killed" / "student.pt")["state_dict"]
    theirs = read_checkpoint(tmp_path / "full" / "student.pt")["state_dict"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
