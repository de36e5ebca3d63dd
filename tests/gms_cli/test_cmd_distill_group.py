"""``gms distill-group``: arm options, the YAML file, the plan, and a small real run in which one
arm diverges while the other finishes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gms_cli.cmd_distill_group import name_arms, parse_arm
from gms_cli.main import app
from gms_models.checkpoint import read_checkpoint
from gms_models.errors import ConfigError
from gms_models.tables import format_lr
from gms_models.train.config import Arm

runner = CliRunner()


@pytest.fixture(scope="module")
def coco2(coco_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("coco2")
    for image in sorted((coco_mini / "val2017").glob("*.jpg"))[:2]:
        (folder / image.name).symlink_to(image)
    return folder


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["distill-group", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--arm", "--config", "--images", "--teacher", "--lr", "--out", "--resume"):
        assert option in result.stdout, option
    for option in ("--cpu-memory-gb", "--headroom", "--plan", "--img-size", "--epochs"):
        assert option in result.stdout, option


def test_arm_specs_and_their_names() -> None:
    assert parse_arm("gmf_2282") == (None, Arm(arch="gmf_2282"))
    assert parse_arm("gmf_2282:1e-3") == (None, Arm(arch="gmf_2282", lr=1e-3))
    assert parse_arm("mine=resnet18:3e-4") == ("mine", Arm(arch="resnet18", lr=3e-4))
    with pytest.raises(ConfigError, match="not a number"):
        parse_arm("gmf_2282:fast")
    with pytest.raises(ConfigError, match=r"\[NAME=\]ARCH\[:LR\]"):
        parse_arm("x=")
    assert (format_lr(3e-4), format_lr(1e-3), format_lr(2.5e-4)) == ("3e-4", "1e-3", "2.5e-4")
    arms = [parse_arm("gmf_2282:3e-4"), parse_arm("gmf_2282"), parse_arm("resnet18")]
    assert list(name_arms(arms, default_lr=1e-3)) == [
        "gmf_2282-lr3e-4",
        "gmf_2282-lr1e-3",
        "resnet18",
    ]


def test_plan_from_a_yaml_file_groups_arms_by_recipe_and_trains_nothing(
    coco2: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    config = tmp_path / "group.yaml"
    config.write_text(
        "distill_group:\n"
        f"  images: {coco2}\n"
        f"  teacher: {teacher_ckpt}\n"
        "  img_size: 64\n"
        "  batch_size: 2\n"
        "  epochs: 2\n"
        "  arms:\n"
        "    gmf_2282-lr3e-4: {arch: gmf_2282, lr: 3.0e-4}\n"
        "    gmf_2282-lr1e-3: {arch: gmf_2282, lr: 1.0e-3}\n"
        "    resnet18: {epochs: 3}\n"
    )
    out = tmp_path / "runs"
    result = runner.invoke(
        app,
        ["distill-group", "--config", str(config), "--out", str(out), "--plan", "--device", "cpu"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "cpu (host)" in line]
    assert len(lines) == 2
    assert "gmf_2282-lr3e-4, gmf_2282-lr1e-3" in lines[0] and "resnet18" in lines[1]
    assert not out.exists()


def test_two_arms_train_together_and_a_diverging_one_is_reported_with_exit_status_1(
    coco2: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    args = [
        "distill-group",
        "--arm",
        "gmf_2282:1e-3",
        "--arm",
        "boom=gmf_2282:1e30",
        "--images",
        str(coco2),
        "--teacher",
        str(teacher_ckpt),
        "--teacher-backend",
        "torch",
        "--img-size",
        "64",
        "--batch-size",
        "1",
        "--epochs",
        "1",
        "--num-workers",
        "0",
        "--out",
        str(out),
        "--no-progress",
    ]
    result = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 1, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    # the unnamed arm shares its arch with "boom", so its name carries its lr
    assert "ok" in rows["gmf_2282-lr1e-3"] and "failed" in rows["boom"]
    state = read_checkpoint(out / "gmf_2282-lr1e-3" / "last.pt")
    assert (state["epoch"], state["config"]["lr"]) == (1, 1e-3)
    assert (out / "boom" / "failure.json").is_file() and not (out / "boom" / "last.pt").exists()
