"""Issue 17, item 6: what a SIGKILL leaves behind is cleaned by the next run.

Writers killed mid-write (real processes, killed with SIGKILL while they hold a temporary
``last.pt``, feature picture, bundle staging folder or evaluation output set) leave their
temporary files; the next training run (resume), export (staged folder) or evaluation removes
them, while temporaries of writers still alive are left alone. A killed ``gms evaluate`` leaves
the previous outputs whole, never a stale ``grid.png`` beside new metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gms_models.checkpoint import read_checkpoint
from gms_models.files import output_set, remove_stale_temps, staged_folder, write_json
from gms_models.train import distill

HERE = Path(__file__).resolve().parent
HOLDER = HERE / "rel2_hold_writer.py"


def _temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.name.endswith(".tmp"))


class _Holder:
    """A writer process holding a temporary output open (see ``rel2_hold_writer.py``)."""

    def __init__(self, kind: str, dest: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HOLDER), kind, str(dest)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("HELD "):
            self.process.kill()
            raise AssertionError(f"the writer did not start: {self.process.stderr.read()}")
        self.temp = Path(line.split(" ", 1)[1].strip())

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL


@pytest.fixture
def killed() -> Iterator[list[_Holder]]:
    """Holders to start; any still running at the end is killed."""
    holders: list[_Holder] = []
    yield holders
    for holder in holders:
        if holder.process.poll() is None:
            holder.kill()


def _killed_writer(holders: list[_Holder], kind: str, dest: Path) -> Path:
    holder = _Holder(kind, dest)
    holders.append(holder)
    holder.kill()
    assert holder.temp.exists()
    return holder.temp


def test_a_resumed_training_run_removes_the_temporaries_of_the_killed_one(
    standins: ModuleType, killed: list[_Holder], tmp_path: Path
) -> None:
    images = standins.write_images(tmp_path / "images", 8)
    config = standins.tiny_config(images, tmp_path / "run", epochs=1)
    distill([config], teacher=standins.tiny_teacher(), progress=False)
    out = config.resolved_out_dir
    left = [
        _killed_writer(killed, "file", out / "last.pt"),
        _killed_writer(killed, "file", out / "student.pt"),
        _killed_writer(killed, "file", out / "features" / "epoch_002.png"),
    ]
    assert left[0].name.startswith(".last.pt.") and _temps(out) == sorted(left)

    resumed = config.model_copy(update={"epochs": 2, "resume": True})
    (result,) = distill([resumed], teacher=standins.tiny_teacher(), progress=False)
    assert result.epochs_completed == 2 and read_checkpoint(out / "last.pt")["epoch"] == 2
    assert _temps(out) == []


def test_an_export_staging_folder_of_a_killed_export_goes_with_the_next_export(
    killed: list[_Holder], tmp_path: Path
) -> None:
    bundle = tmp_path / "work" / "export" / "abc" / "bundle"
    stale = _killed_writer(killed, "folder", bundle)
    assert stale.name.startswith(".bundle.") and (stale / "grid.png").is_file()
    with staged_folder(bundle) as stage:
        (stage / "bundle.json").write_text("{}")
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["bundle"]
    assert _temps(bundle.parent) == []


def test_temporaries_of_live_writers_and_other_files_are_left_alone(
    killed: list[_Holder], tmp_path: Path
) -> None:
    live = _Holder("file", tmp_path / "model.onnx")
    killed.append(live)
    (tmp_path / ".hidden.tmp").write_text("not ours")
    (tmp_path / ".model.onnx.123.cafe.tmp").write_text("no host in the name")
    assert remove_stale_temps(tmp_path) == []
    assert live.temp.exists()
    live.kill()
    assert remove_stale_temps(tmp_path, "other.onnx") == []
    assert remove_stale_temps(tmp_path, "model.onnx") == [live.temp]
    assert not live.temp.exists() and (tmp_path / ".hidden.tmp").exists()


def test_an_output_set_is_replaced_whole_or_not_at_all(
    killed: list[_Holder], tmp_path: Path
) -> None:
    names = ("metrics.json", "grid.png")
    with output_set(tmp_path, names) as staged:
        write_json(staged / "metrics.json", {"run": 1})
        (staged / "grid.png").write_bytes(b"grid of run 1")
    (tmp_path / "notes.txt").write_text("the user's")

    # a failure half-way, and a kill half-way: the first set stays whole
    with pytest.raises(RuntimeError), output_set(tmp_path, names) as staged:
        write_json(staged / "metrics.json", {"run": 2})
        raise RuntimeError("grid rendering failed")
    _killed_writer(killed, "outputs", tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"run": 1}
    assert (tmp_path / "grid.png").read_bytes() == b"grid of run 1"

    # a run without a grid: the old grid does not stay beside its metrics
    with output_set(tmp_path, names) as staged:
        write_json(staged / "metrics.json", {"run": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "notes.txt"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"run": 3}

    stray = pytest.raises(ValueError, match=r"'stray.txt'.* not in the declared set")
    with stray, output_set(tmp_path, names) as staged:
        (staged / "stray.txt").write_text("x")
    assert _temps(tmp_path) == []


EVALUATE_KILLED_IN_GRID = """
import sys, time
import gms_models.evaluate.run
def hang(*args, **kwargs):
    print("GRID", flush=True)
    time.sleep(600)
gms_models.evaluate.run.render_mask_grid = hang
from gms_cli.main import main
sys.argv = ["gms", "evaluate", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_a_gms_evaluate_killed_while_drawing_its_grid_leaves_the_previous_outputs_whole(
    coco_mini: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    args = ["--teacher-only", "--teacher", str(teacher_ckpt), "--img-size", "256"]
    args += ["--coco", str(coco_mini / "annotations" / "instances_val2017.json")]
    args += ["--images", str(coco_mini / "val2017"), "--out", str(out), "--no-progress"]
    gms = [str(Path(sys.executable).with_name("gms"))]

    def evaluate(*extra: str) -> None:
        done = subprocess.run([*gms, "evaluate", *args, *extra], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    evaluate("--max-images", "1", "--grid", "1")
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(first) == {"metrics.json", "per_annotation.json", "grid.png"}

    victim = subprocess.Popen(
        [sys.executable, "-c", EVALUATE_KILLED_IN_GRID, *args, "--max-images", "2", "--grid", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert victim.stdout is not None
    for line in victim.stdout:
        if line.strip() == "GRID":
            break
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == first
    assert len(_temps(out)) == 1  # the killed run's staging folder

    evaluate("--max-images", "2", "--grid", "0")
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "per_annotation.json"]
    assert json.loads((out / "metrics.json").read_text())["images"] == 2
