"""Issue 17, item 11: ``--resume`` refuses a checkpoint trained with other trajectory settings
(batch size, seed, lr, epochs under a decaying schedule, ...), naming the field with its old and
new value (exit status 2 from the CLI); neutral fields (folders, workers, device, name) may differ.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gms_cli.main import main
from gms_models.errors import ConfigError
from gms_models.train import DistillConfig, distill


@pytest.fixture(scope="module")
def trained(standins: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> DistillConfig:
    """A one-epoch run (cosine schedule) whose folder holds ``last.pt``."""
    root = tmp_path_factory.mktemp("resume")
    images = standins.write_images(root / "images", 8)
    config = standins.tiny_config(images, root / "run", epochs=1, schedule="cosine")
    distill([config], teacher=standins.tiny_teacher(), progress=False)
    return config


def _resume(standins: ModuleType, config: DistillConfig, **changes: object):
    update = {"resume": True, **changes}
    return distill(
        [config.model_copy(update=update)], teacher=standins.tiny_teacher(), progress=False
    )


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("batch_size", 2, "batch_size: 4 -> 2"),
        ("seed", 8, "seed: 7 -> 8"),
        ("lr", 1e-3, "lr: 0.003 -> 0.001"),
        ("epochs", 2, "epochs: 1 -> 2"),  # the cosine decay depends on the total
        ("schedule", "constant", "schedule: 'cosine' -> 'constant'"),
        ("grad_clip", 1.0, "grad_clip: None -> 1.0"),
    ],
)
def test_a_changed_trajectory_field_is_refused_naming_it(
    standins: ModuleType, trained: DistillConfig, field: str, value: object, shown: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _resume(standins, trained, **{field: value})
    message = str(caught.value)
    assert shown in message and str(trained.resolved_out_dir / "last.pt") in message


def test_neutral_fields_may_differ_and_the_opt_in_accepts_changes(
    standins: ModuleType, trained: DistillConfig, tmp_path: Path
) -> None:
    # A copy: resuming with changes trains on, which must not touch the other tests' run.
    shutil.copytree(trained.resolved_out_dir, tmp_path / "copy")
    copy = trained.model_copy(update={"out_dir": tmp_path / "copy"})
    neutral = {"name": "renamed", "num_workers": 1, "device": "cpu", "feature_channels": 2}
    (result,) = _resume(standins, copy, cache_dir=tmp_path / "cache", **neutral)
    assert result.epochs_completed == 1 and result.failure is None
    (result,) = _resume(standins, copy, epochs=2, resume_with_changes=True)
    assert result.epochs_completed == 2


def test_more_epochs_under_a_constant_schedule_is_the_uninterrupted_run(
    standins: ModuleType, trained: DistillConfig, tmp_path: Path
) -> None:
    config = trained.model_copy(update={"schedule": "constant", "out_dir": tmp_path / "c"})
    distill([config], teacher=standins.tiny_teacher(), progress=False)
    (longer,) = _resume(standins, config, epochs=2)
    whole = config.model_copy(update={"epochs": 2, "out_dir": tmp_path / "whole"})
    (uninterrupted,) = distill([whole], teacher=standins.tiny_teacher(), progress=False)
    assert longer.loss_history == uninterrupted.loss_history
    with pytest.raises(ConfigError, match=r"epochs: 2 -> 1"):
        _resume(standins, config.model_copy(update={"epochs": 2}), epochs=1, lr=1.0)


def test_gms_distill_resume_with_another_batch_size_exits_2_naming_it(
    standins: ModuleType,
    trained: DistillConfig,
    teacher_ckpt: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "cli"
    args = ["gms", "distill", "--arch", standins.ARCH, "--images", str(trained.images)]
    args += ["--teacher", str(teacher_ckpt), "--teacher-backend", "torch", "--img-size", "32"]
    args += ["--epochs", "1", "--batch-size", "4", "--num-workers", "0", "--out", str(out)]
    args += ["--device", "cpu", "--no-progress"]
    monkeypatch.setenv("COLUMNS", "1000")
    for extra, status in (([], 0), (["--resume", "--batch-size", "2", "--seed", "3"], 2)):
        monkeypatch.setattr(sys, "argv", [*args, *extra])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert (exit_info.value.code or 0) == status
    err = capsys.readouterr().err
    assert err.startswith("error: cannot resume") and str(out / "last.pt") in err
    assert "batch_size: 4 -> 2" in err and "seed: 0 -> 3" in err
