"""``gms run FLOW`` and ``gms study``: parameters from params.yaml and --set, errors, real runs.

Each command runs in a subprocess (as a user runs it): the flow starts its own temporary Prefect
server, whose database goes under ``<runs_dir>/prefect``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GMS = str(Path(sys.executable).with_name("gms"))


def gms(*args: object, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [GMS, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def test_bad_flow_and_parameters_are_refused_with_the_field(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gms_cli.main import app
    from gms_models.errors import ConfigError

    runner = CliRunner()
    unknown = runner.invoke(app, ["run", "nope"])
    assert isinstance(unknown.exception, ConfigError)
    assert "unknown flow 'nope'" in str(unknown.exception)
    assert "distill-ablation" in str(unknown.exception)
    bad = runner.invoke(app, ["run", "distill-ablation", "--set", "train.img_size=100"])
    assert isinstance(bad.exception, ConfigError) and "train.img_size" in str(bad.exception)
    params = tmp_path / "params.yaml"
    params.write_text("pick: [not, a, mapping]\n")
    wrong = runner.invoke(app, ["run", "pick", "--params", str(params)])
    assert isinstance(wrong.exception, ConfigError)
    assert "section 'pick' must be a mapping" in str(wrong.exception)
    study = runner.invoke(app, ["study", "--set", "distill_ablation.train.epochs=0"])
    assert isinstance(study.exception, ConfigError)
    assert "distill_ablation.train.epochs" in str(study.exception)


@pytest.mark.timeout(600)
def test_run_data_flow_from_params_yaml(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(
        "data: {root: demo, demo_scale: small}\ntracking: {runs_dir: out}\n"
    )
    done = gms(
        "run", "data", "--params", "params.yaml", "--set", "data.demo_scale=tiny", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data finished" in done.stderr
    manifest = json.loads((tmp_path / "demo" / "manifest.json").read_text())
    assert manifest["scale"] == "tiny"
    assert (tmp_path / "out" / "prefect").is_dir()  # the temporary server's own database
    assert (
        f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'out' / 'mlflow.db'}" in done.stderr
    )


@pytest.mark.timeout(600)
def test_run_without_a_temporary_server_starts_no_prefect(tmp_path: Path) -> None:
    """What dvc.yaml's stages run: the same flow, its steps as plain calls, no server."""
    (tmp_path / "params.yaml").write_text("data: {root: demo, demo_scale: tiny}\n")
    done = gms("run", "data", "--params", "params.yaml", "--no-temporary-server", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data finished" in done.stderr and "prefect.gms" in done.stderr  # the steps' log
    assert (tmp_path / "demo" / "manifest.json").is_file()
    assert not (tmp_path / "runs" / "prefect").exists()  # no server database, no server


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_quick_study_end_to_end(tmp_path: Path, repo_root: Path) -> None:
    # the committed params.yaml, named as a user in the checkout would (issue 17 item 7)
    done = gms(
        "study", "--quick", "--params", repo_root / "params.yaml", cwd=tmp_path, timeout=1700
    )
    assert done.returncode == 0, done.stderr[-5000:]
    out = done.stderr
    assert "RANDOM WEIGHTS" in out and "study finished" in out
    for table in ("table2_distill_ablation.md", "table3_segment_eval.md", "table1.md"):
        assert (tmp_path / "runs" / "tables" / table).is_file(), table
    assert "mlflow ui --backend-store-uri sqlite:///" in out
    assert "champion:" in out and "gms-encoder@champion" in out
