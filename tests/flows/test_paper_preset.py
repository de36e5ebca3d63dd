"""The ``paper`` preset: Table 2's setup under the parameters given, and a quick, clear refusal
of a run that would silently be the toy (random teacher, demo data)."""

from __future__ import annotations

import time

import pytest

from flows.params import PAPER_PRESET, DistillAblationParams, apply_preset, load_flow_params
from gms_models.errors import ConfigError

SHA = "ab" * 32
TEACHER = ["teacher.checkpoint=/ckpt/mobile_sam.pt", f"teacher.sha256={SHA}"]


def test_the_preset_is_table_2_under_the_given_parameters() -> None:
    given = load_flow_params("distill-ablation", sets=[*TEACHER, "train.epochs=2"])
    paper = apply_preset(given, "paper")
    assert (paper.train.img_size, paper.train.teacher_size, paper.train.batch_size) == (
        1024, 1024, 8,
    )  # fmt: skip
    assert paper.train.epochs == 2  # given: wins over the preset
    assert paper.train.lr == PAPER_PRESET["train"]["lr"]
    assert paper.data.generate_demo is False and paper.evaluate.max_images is None
    assert paper.dispatch == "deployments"
    assert len(paper.arms) == 10 and paper.arms["gmf_33124-lr3e-3"].lr == 3e-3
    assert apply_preset(paper, "paper") == paper  # the CLI and then the flow apply it
    assert apply_preset(given, None) is given


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        ([], "teacher.checkpoint"),
        (["teacher.checkpoint=https://host/mobile_sam.pt"], "teacher.sha256"),
        ([*TEACHER[:1], "teacher.sha256=ABC"], "teacher.sha256"),
        ([*TEACHER, "data.generate_demo=true"], "data.generate_demo"),
        ([*TEACHER, "train.img_size=128"], "train.img_size must be 1024"),
        ([*TEACHER, "train.batch_size=4"], "train.batch_size must be 8"),
    ],
)
def test_what_the_preset_requires_is_named(sets: list[str], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        apply_preset(load_flow_params("distill-ablation", sets=sets), "paper")


def test_the_flow_refuses_before_any_work() -> None:
    from flows.distill_ablation import distill_ablation

    with pytest.raises(ConfigError, match=r"teacher\.checkpoint"):
        distill_ablation.fn(DistillAblationParams(), preset="paper")


def test_gms_run_paper_without_teacher_exits_2_within_10_s(tmp_path) -> None:
    from typer.testing import CliRunner

    from gms_cli.main import app

    started = time.perf_counter()
    done = CliRunner().invoke(
        app,
        ["run", "distill-ablation", "--preset", "paper", "--set", f"tracking.runs_dir={tmp_path}"],
    )
    assert time.perf_counter() - started < 10
    assert isinstance(done.exception, ConfigError)
    assert "teacher.checkpoint" in str(done.exception)
    assert not (tmp_path / "prefect").exists()  # refused before Prefect was set up
    wrong = CliRunner().invoke(app, ["run", "pick", "--preset", "paper"])
    assert isinstance(wrong.exception, ConfigError) and "distill-ablation" in str(wrong.exception)


def test_gms_run_paper_without_teacher_exits_with_status_2(tmp_path) -> None:
    """The refusal comes before torch, timm or Prefect load: what a user waits for is the CLI's
    start and the parameter check (about 2 s), not the seconds those imports take."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from gms_cli.main import main\n"
        "sys.argv = ['gms', 'run', 'distill-ablation', '--preset', 'paper']\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print(sorted({'torch', 'timm', 'prefect'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "teacher.checkpoint" in done.stderr
    assert done.stdout.strip() == "[]"  # loaded: none of the heavy packages
