"""Student checkpoint files: format, atomic writes, loading back, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch

from gms_models.checkpoint import save_checkpoint
from gms_models.errors import CheckpointError
from gms_models.train import load_student, read_student_checkpoint, save_student


def _saved(standins: ModuleType, path: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    state = standins.TinyEncoder().state_dict()
    save_student(path, arch=standins.ARCH, img_size=32, state_dict=state, config={"lr": 1e-3})
    return state


def test_student_checkpoint_round_trip_builds_the_encoder_in_eval_mode(
    standins: ModuleType, tmp_path: Path
) -> None:
    state = _saved(standins, tmp_path / "student.pt")
    raw = torch.load(tmp_path / "student.pt", weights_only=True)
    assert set(raw) == {"format", "arch", "img_size", "state_dict", "config"}
    assert (raw["arch"], raw["img_size"], raw["config"]) == (standins.ARCH, 32, {"lr": 1e-3})

    model = load_student(tmp_path / "student.pt", expected_arch=standins.ARCH)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])
    assert read_student_checkpoint(tmp_path / "student.pt").img_size == 32


def test_checkpoint_of_another_arch_names_both(standins: ModuleType, tmp_path: Path) -> None:
    _saved(standins, tmp_path / "student.pt")
    with pytest.raises(CheckpointError, match=rf"'{standins.ARCH}' student.*'gmf_2282'"):
        load_student(tmp_path / "student.pt", expected_arch="gmf_2282")


def test_unreadable_or_foreign_files_raise_checkpoint_error_naming_the_file(
    standins: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_student(tmp_path / "absent.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip archive at all")
    with pytest.raises(CheckpointError, match=r"garbage\.pt"):
        load_student(garbage)
    bare = tmp_path / "bare_state_dict.pt"
    torch.save(standins.TinyEncoder().state_dict(), bare)
    with pytest.raises(CheckpointError, match=r"bare_state_dict\.pt is not a gms student"):
        load_student(bare)
    wrong_shapes = tmp_path / "wrong.pt"
    save_student(
        wrong_shapes,
        arch=standins.ARCH,
        img_size=32,
        state_dict={"head.weight": torch.zeros(1)},
        config={},
    )
    with pytest.raises(CheckpointError, match="do not fit encoder"):
        load_student(wrong_shapes)


def test_a_failing_write_keeps_the_previous_checkpoint_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full (simulated by an object that cannot be saved)")

    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "bad": Unpicklable()})
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
