"""A distillation killed with SIGKILL mid-epoch and resumed ends with the uninterrupted weights."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import torch

from gms_models.checkpoint import read_checkpoint
from gms_models.train import distill

SCRIPT = Path(__file__).resolve().parent / "distill_standin_script.py"


def _start(images: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(images), str(out), "3", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(process: subprocess.Popen[str], wanted: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == wanted:
            return
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"never saw {wanted!r}; stderr: {process.stderr.read()[-2000:]}")


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """The script trains with one thread; in-process runs must too for bitwise-equal sums."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_here(standins: ModuleType, images: Path, out: Path, *, resume: bool):
    config = standins.tiny_config(images, out, epochs=3, resume=resume)
    with _one_thread():
        (result,) = distill([config], teacher=standins.tiny_teacher(), progress=False, log_every=1)
        return result


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    victim = _start(tiny_images, tmp_path / "killed", "--step-delay", "0.5")
    full = _run_here(standins, tiny_images, tmp_path / "full", resume=False)
    # the first epoch's checkpoint is on disk, the second epoch is under way: kill it there
    _wait_for_line(victim, "EPOCH_END 1", timeout=240)
    _wait_for_line(victim, "STEP 2 1", timeout=60)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    state = read_checkpoint(tmp_path / "killed" / "last.pt")
    assert state["epoch"] == 1 and state["step"] == 3

    resumed = _run_here(standins, tiny_images, tmp_path / "killed", resume=True)
    assert resumed.epochs_completed == 3
    assert resumed.loss_history == full.loss_history
    ours = read_checkpoint(resumed.checkpoint)["state_dict"]
    theirs = read_checkpoint(full.checkpoint)["state_dict"]
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
