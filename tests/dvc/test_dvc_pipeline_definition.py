"""dvc.yaml and params.yaml agree with each other and with the flows' parameter models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows.params import FLOW_PARAMS, load_flow_params
from gms_models.registry import list_encoders


@pytest.fixture(scope="module")
def stages(repo_root: Path) -> Iterator[dict[str, object]]:
    """The resolved stages of dvc.yaml (foreach expanded), by name, as DVC sees them."""
    from dvc.repo import Repo

    with Repo(str(repo_root)) as repo:
        yield {stage.addressing: stage for stage in repo.index.stages}


@pytest.fixture(scope="module")
def params(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "params.yaml").read_text())


def _param_deps(stage: object) -> list:
    from dvc.dependency.param import ParamsDependency

    return [dep for dep in stage.deps if isinstance(dep, ParamsDependency)]


@pytest.mark.parametrize("flow", sorted(FLOW_PARAMS))
def test_every_flow_validates_its_section(repo_root: Path, flow: str) -> None:
    load_flow_params(flow, repo_root / "params.yaml")


def test_one_arm_flow_trains_like_the_ablation(repo_root: Path) -> None:
    ablation = load_flow_params("distill-ablation", repo_root / "params.yaml")
    one_arm = load_flow_params("distill", repo_root / "params.yaml", ["arm=resnet18"])
    assert (one_arm.train, one_arm.evaluate, one_arm.export) == (
        ablation.train,
        ablation.evaluate,
        ablation.export,
    )
    assert (one_arm.data, one_arm.teacher) == (ablation.data, ablation.teacher)


def test_stages_form_the_study_chain(stages: dict[str, object]) -> None:
    """One stage (one process) per table: each flow prepares its data and teacher itself."""
    assert [name for name in stages if name != "data.dvc"] == ["table2", "table3", "table1", "pick"]
    assert "data" in {str(dep) for dep in stages["table2"].deps}  # the output of data.dvc
    table2_csv = "runs/tables/table2_distill_ablation.csv"
    assert table2_csv in {str(out) for out in stages["table2"].outs}
    for name in ("table3", "pick"):
        assert table2_csv in {str(dep) for dep in stages[name].deps}


def test_stages_run_the_flows_tagged_dvc_with_existing_params(stages: dict[str, object]) -> None:
    for name, stage in stages.items():
        if name == "data.dvc":
            continue
        assert stage.cmd.startswith("GMS_RUN_SOURCE=dvc gms run "), name
        assert "--params params.yaml" in stage.cmd, name
        assert "--no-temporary-server" in stage.cmd, name  # no Prefect server per stage
        (param_dep,) = _param_deps(stage)
        values = param_dep.read_params()  # raises when a listed key is missing
        assert set(values) == set(param_dep.params), name


def test_table2_runs_every_arm_of_params_in_one_process(
    stages: dict[str, object], params: dict, repo_root: Path
) -> None:
    """The whole distill_ablation section is table2's parameter: the arms of params.yaml are
    the stage's without editing dvc.yaml, and a changed arm re-runs it."""
    stage = stages["table2"]
    assert "gms run distill-ablation " in stage.cmd and "--set" not in stage.cmd
    (param_dep,) = _param_deps(stage)
    assert "distill_ablation" in param_dep.params
    arms = param_dep.read_params()["distill_ablation"]["arms"]
    assert arms == params["distill_ablation"]["arms"]
    ablation = load_flow_params("distill-ablation", repo_root / "params.yaml")
    assert list(ablation.arms) == list(arms)
    assert {arm.arch or name for name, arm in ablation.arms.items()} <= set(list_encoders())


def test_table2_declares_its_per_arm_metrics(stages: dict[str, object]) -> None:
    metrics = [str(out) for out in stages["table2"].outs if out.metric]
    assert metrics == ["runs/tables/table2_distill_ablation_metrics.json"]


def test_plots_show_the_pareto_front_and_table1(stages: dict[str, object]) -> None:
    plots = {str(out): out.plot for stage in stages.values() for out in stage.outs if out.plot}
    scatter = plots["runs/tables/table2_distill_ablation.csv"]
    assert scatter["template"] == "scatter"
    assert (scatter["x"], scatter["y"]) == ("latency_ms_onnxruntime", "miou")
    assert "runs/tables/table2_distill_ablation_pareto.png" in plots
    assert "runs/tables/table1_val_acc.png" in plots


def test_dvc_config_is_committable(repo_root: Path) -> None:
    config = (repo_root / ".dvc" / "config").read_text()
    assert "analytics = false" in config
    for secret in ("access_key_id", "secret_access_key", "session_token", "password"):
        assert secret not in config
    ignored = (repo_root / ".dvc" / ".gitignore").read_text().split()
    assert {"/config.local", "/tmp", "/cache"} <= set(ignored)
    assert "__pycache__/" in (repo_root / ".dvcignore").read_text().split()


def test_metrics_show_lists_each_arm_of_table2(repo_root: Path, tmp_path: Path) -> None:
    """`dvc metrics show` reads table2's metrics file as Table 2 writes it: one entry per arm."""
    from gms_models.files import write_json
    from gms_models.tables import AblationRow
    from tasks.tables import ablation_metrics
    from tests.dvc.scratch import PIPELINE_FILES, make_scratch_repo, run

    repo = make_scratch_repo(repo_root, tmp_path / "clone", PIPELINE_FILES)
    rows = [
        AblationRow(model=name, arch="gmf_2282", miou=miou, last_loss=0.5, latency_ms={"onnx": 2.0})
        for name, miou in (("gmf_2282", 0.25), ("gmf_2282-lr3e-4", 0.5))
    ]
    write_json(repo / "runs/tables/table2_distill_ablation_metrics.json", ablation_metrics(rows))
    shown = run(["dvc", "metrics", "show", "--json"], cwd=repo)
    assert shown.returncode == 0, shown.stderr
    (workspace,) = json.loads(shown.stdout).values()  # keyed "" in a repository without commits
    (metrics,) = [file["data"] for file in workspace["data"].values()]
    assert metrics == {
        "gmf_2282": {"last_loss": 0.5, "miou": 0.25, "latency_ms_onnx": 2.0},
        "gmf_2282-lr3e-4": {"last_loss": 0.5, "miou": 0.5, "latency_ms_onnx": 2.0},
    }
