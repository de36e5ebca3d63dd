"""dvc.yaml and params.yaml agree with each other and with the flows' parameter models."""

from __future__ import annotations

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


def _arm_names(params: dict) -> list[str]:
    arms = params["distill_ablation"]["arms"]
    assert isinstance(arms, dict), "dvc.yaml keys one stage per arm name"
    return list(arms)


def test_stages_form_the_study_chain(
    stages: dict[str, object], params: dict, repo_root: Path
) -> None:
    names = _arm_names(params)
    arm_stages = [f"distill@{name}" for name in names]
    expected = ["data", "teacher", *arm_stages, "table2", "table3", "table1", "pick"]
    assert [name for name in stages if name != "data.dvc"] == expected
    assert "data" in {str(dep) for dep in stages["data"].deps}  # the output of data.dvc
    ablation = load_flow_params("distill-ablation", repo_root / "params.yaml")
    assert set(ablation.arms) == set(names)
    assert {arm.arch or name for name, arm in ablation.arms.items()} <= set(list_encoders())

    table2_deps = {str(dep) for dep in stages["table2"].deps}
    arm_outputs = {str(out) for name in arm_stages for out in stages[name].outs}
    assert "runs/tables/arms" in table2_deps
    assert all(p.startswith("runs/tables/arms/") for p in arm_outputs), (
        "table2 must depend on every arm's table: the arm stages write into its arms folder"
    )
    table2_outs = {str(out) for out in stages["table2"].outs}
    table2_csv = next(p for p in table2_outs if p.endswith(".csv"))
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


def test_per_arm_stages_differ_only_by_arm(stages: dict[str, object], params: dict) -> None:
    names = _arm_names(params)
    commands = {stages[f"distill@{name}"].cmd.replace(name, "ARM") for name in names}
    assert commands == {
        "GMS_RUN_SOURCE=dvc gms run distill --params params.yaml --no-temporary-server "
        "--set arm=ARM"
    }
    for name in names:
        stage = stages[f"distill@{name}"]
        outs = {str(out) for out in stage.outs}
        arm_dir = "runs/tables/arms"
        assert outs == {
            f"{arm_dir}/distill_{name}.md",
            f"{arm_dir}/distill_{name}.csv",
            f"{arm_dir}/distill_{name}_metrics.json",
        }
        metrics = [str(o) for o in stage.outs if o.metric]
        assert metrics == [f"{arm_dir}/distill_{name}_metrics.json"]
        (param_dep,) = _param_deps(stage)
        arm_keys = {k for k in param_dep.params if k.startswith("distill_ablation")}
        assert arm_keys == {f"distill_ablation.arms.{name}"}  # not the other arms' entries


def test_each_arm_stage_trains_the_ablations_arm(repo_root: Path, params: dict) -> None:
    ablation = load_flow_params("distill-ablation", repo_root / "params.yaml")
    for name in _arm_names(params):
        one_arm = load_flow_params("distill", repo_root / "params.yaml", [f"arm={name}"])
        assert one_arm.arm == name
        assert (one_arm.arms[name], one_arm.train) == (ablation.arms[name], ablation.train)


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
