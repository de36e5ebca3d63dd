"""Issue 17 items 13 and 7: what ``gms run`` / ``gms study`` say and return about the whole run.

- A failed arm makes ``gms run distill-ablation`` exit 1 and list the failed arm with its reason
  after the summary; ``--allow-partial`` accepts the partial table (exit 0, still listed). Slow:
  two real runs (the second reuses the first's work).
- ``gms study --params params.yaml`` (the committed file) reads it as ``gms run study`` does:
  both reach the same check of a ``--set`` value, with nothing to say about the file itself.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.errors import ConfigError

BAD_ARCH = "not_an_encoder"


@pytest.mark.slow
@pytest.mark.timeout(3000)
def test_a_failed_arm_fails_gms_run_unless_a_partial_table_is_allowed(
    tmp_path: Path,
    toy_params: Callable[[Path, list[str]], Path],
    gms_process: Callable[..., subprocess.Popen[str]],
) -> None:
    params = toy_params(tmp_path, ["gmf_2282", BAD_ARCH])
    reason = f"{BAD_ARCH}: failed at distill: unknown encoder '{BAD_ARCH}'"

    strict = gms_process("run", "distill-ablation", "--params", params, cwd=tmp_path)
    out = strict.communicate(timeout=1500)[0]
    assert strict.returncode == 1, out[-3000:]
    assert "error: 1 failed" in out and reason in out and "--allow-partial" in out
    assert (tmp_path / "runs" / "tables" / "table2_distill_ablation.md").is_file()

    partial = gms_process(
        "run", "distill-ablation", "--params", params, "--allow-partial", cwd=tmp_path
    )
    out = partial.communicate(timeout=1500)[0]
    assert partial.returncode == 0, out[-3000:]
    assert "partial: 1 failed, accepted (--allow-partial)" in out and reason in out
    assert "gmf_2282: reusing the finished distillation" in out


def test_gms_study_reads_the_committed_params_yaml_as_gms_run_study(repo_root: Path) -> None:
    committed = str(repo_root / "params.yaml")
    bad_value = ["--set", "distill_ablation.train.epochs=0"]
    runner = CliRunner()
    for command in (["study"], ["run", "study"]):
        done = runner.invoke(app, [*command, "--params", committed, *bad_value])
        assert isinstance(done.exception, ConfigError), (command, done.output)
        message = str(done.exception)
        assert "distill_ablation.train.epochs" in message and committed in message, command
        assert "arms" not in message, (command, message)
