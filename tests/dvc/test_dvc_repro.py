"""`dvc repro` of the toy study in a scratch clone: end to end, then nothing, then only what a
changed parameter touches. Stages report to one Prefect server (as under `gms stack up`)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gms_cli.stack.launcher import free_ports, running_services
from gms_cli.stack.services import prefect_api_url, prefect_server_spec
from tests.dvc.scratch import clean_env, make_pipeline_clone, run

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(3000)]


def shrink(params_file: Path) -> None:
    """Smaller than the toy study: 1 epoch, 4 COCO images, 1 Table 1 family."""
    params = yaml.safe_load(params_file.read_text())
    ablation = params["distill_ablation"]
    ablation["train"]["epochs"] = 1  # the same mapping as distill.train (a YAML alias)
    ablation["evaluate"].update(max_images=4, mask_grid_images=1)
    params["encoder_selection"]["classify"]["families"] = ["gmf_m"]
    params["segment_eval"]["grid_images"] = 1
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture
def clone(repo_root: Path, tmp_path: Path) -> Path:
    repo = make_pipeline_clone(repo_root, tmp_path / "clone")
    shrink(repo / "params.yaml")
    return repo


@pytest.fixture
def prefect_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    (port,) = free_ports(1)
    home = tmp_path / "prefect"
    with running_services([prefect_server_spec(port, home / "server")], home / "state"):
        yield clean_env({"PREFECT_API_URL": prefect_api_url(port), "PREFECT_HOME": str(home)})


def test_repro_end_to_end_then_nothing_then_only_what_changed(
    clone: Path, prefect_env: dict[str, str]
) -> None:
    listed = run(["dvc", "stage", "list", "--name-only"], cwd=clone, env=prefect_env)
    every_stage = listed.stdout.split()

    first = run(["dvc", "repro"], cwd=clone, env=prefect_env, timeout=2400)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert sorted(stages_run(first.stdout)) == sorted(every_stage)
    tables = clone / "runs" / "tables"
    for name in ("table2_distill_ablation.md", "table3_segment_eval.md", "table1.md"):
        assert (tables / name).is_file(), name
    assert "→ `gms-encoder@champion`" in (tables / "pick_decision.md").read_text()
    flows, sources = mlflow_provenance(clone)
    assert sources == {"dvc"}
    assert {"distill-ablation", "segment-eval", "encoder-selection"} <= flows

    status = run(["dvc", "status", "--json"], cwd=clone, env=prefect_env)
    assert json.loads(status.stdout) == {}
    second = run(["dvc", "repro"], cwd=clone, env=prefect_env)
    assert second.returncode == 0 and stages_run(second.stdout) == []

    params_file = clone / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["segment_eval"]["grid_images"] = 0
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    changed = run(["dvc", "status", "--json"], cwd=clone, env=prefect_env)
    assert set(json.loads(changed.stdout)) == {"table3"}
    third = run(["dvc", "repro"], cwd=clone, env=prefect_env, timeout=1200)
    assert third.returncode == 0, third.stdout[-3000:]
    assert stages_run(third.stdout) == ["table3"]

    commit_all(clone)  # what `dvc metrics diff` compares with

    # one arm's lr: Table 2's stage and the tables after it re-run, not Table 1; in Table 2's
    # stage only that arm trains again, the others come from the work cache
    params = yaml.safe_load(params_file.read_text())
    arms = params["distill_ablation"]["arms"]
    arm = "gmf_3344"
    assert arm in arms and len(arms) > 1
    arms[arm]["lr"] = 3.0e-3
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    changed = run(["dvc", "status", "--json"], cwd=clone, env=prefect_env)
    assert set(json.loads(changed.stdout)) == {"table2"}
    fourth = run(["dvc", "repro"], cwd=clone, env=prefect_env, timeout=1200)
    assert fourth.returncode == 0, fourth.stdout[-3000:]
    assert stages_run(fourth.stdout) == ["table2", "table3", "pick"]
    table2 = (tables / "table2_distill_ablation.md").read_text()
    assert f"| {arm} | S |" in table2 and "| 3e-3 |" in table2
    assert newest_ablation_reuse(clone) == {name: name != arm for name in arms}
    diff = run(["dvc", "metrics", "diff", "--json"], cwd=clone, env=prefect_env)
    assert diff.returncode == 0, diff.stderr[-3000:]
    changed_metrics = json.loads(diff.stdout)["runs/tables/table2_distill_ablation_metrics.json"]
    assert changed_metrics[f"{arm}.last_loss"]["old"] is not None  # the committed run's number
    assert not {f"{other}.last_loss" for other in arms if other != arm} & set(changed_metrics)


def commit_all(repo: Path) -> None:
    identity = ["-c", "user.name=gms tests", "-c", "user.email=tests@gms.invalid"]
    subprocess.run(["git", *identity, "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *identity, "commit", "-q", "-m", "study"], cwd=repo, check=True)


def newest_ablation_reuse(repo: Path) -> dict[str, bool]:
    """Whether each arm of the newest Table 2 run reused its trained student from the cache."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{repo / 'runs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("table2-distill-ablation")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1000
    )
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    return {r.info.run_name: "gms.reused_from" in r.data.tags for r in children}


def mlflow_provenance(repo: Path) -> tuple[set[str | None], set[str | None]]:
    """The ``gms.flow`` and ``gms.source`` tags of every MLflow run in the clone's store."""
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{repo / 'runs' / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, max_results=1000)
    return (
        {r.data.tags.get("gms.flow") for r in runs},
        {r.data.tags.get("gms.source") for r in runs},
    )
