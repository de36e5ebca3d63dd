"""MLflow helpers against a real local SQLite store: store resolution, experiments, runs, params."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tasks.specs import TrackingSpec
from tasks.tracking import (
    PARENT_TAG,
    ensure_experiment,
    finish_run,
    flatten,
    local_store_uri,
    log_metrics,
    log_params,
    resolve_tracking_uri,
    start_run,
    tracking_uri_set_to,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    runs_dir = tmp_path_factory.mktemp("runs")
    return local_store_uri(runs_dir), runs_dir


def test_store_comes_from_param_then_environment_then_runs_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = resolve_tracking_uri(TrackingSpec(runs_dir=tmp_path / "r"))
    assert local == f"sqlite:///{(tmp_path / 'r' / 'mlflow.db').resolve()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_tracking_uri(TrackingSpec(runs_dir=tmp_path)) == "http://127.0.0.1:5999"
    given = TrackingSpec(runs_dir=tmp_path, tracking_uri="sqlite:///elsewhere.db")
    assert resolve_tracking_uri(given) == "sqlite:///elsewhere.db"


def test_flatten_nested_params() -> None:
    flat = flatten({"train": {"lr": 3e-4, "options": {}}, "arms": ["a", "b"], "x": None})
    assert flat == {"train.lr": "0.0003", "arms": "['a', 'b']", "x": "None"}
    assert len(flatten({"long": "y" * 10_000})["long"]) == 6000


def test_experiment_once_parent_and_child_runs(store: tuple[str, Path]) -> None:
    uri, runs_dir = store
    first = ensure_experiment(uri, "table-x", runs_dir)
    assert ensure_experiment(uri, "table-x", runs_dir) == first
    client = MlflowClient(uri)
    location = client.get_experiment(first).artifact_location
    assert location == (runs_dir.resolve() / "mlartifacts" / "table-x").as_uri()

    parent = start_run(uri, first, "flow", {"gms.flow": "x"})
    child = start_run(uri, first, "arm-a", {"gms.flow": "x"}, parent=parent)
    log_params(child, {"arch": "gmf_2282", "train": {"lr": 3e-4}})
    log_params(child, {"arch": "gmf_2282", "epochs": 2})  # a logged key is skipped, not an error
    log_metrics(child, {"miou": 0.5, "nan": math.nan, "inf": math.inf}, step=3)
    finish_run(child, ok=False)
    finish_run(parent)

    run = client.get_run(child.run_id)
    assert run.data.tags[PARENT_TAG] == parent.run_id
    assert run.data.params == {"arch": "gmf_2282", "train.lr": "0.0003", "epochs": "2"}
    assert run.data.metrics == {"miou": 0.5}
    assert client.get_metric_history(child.run_id, "miou")[0].step == 3
    assert run.info.status == "FAILED"
    assert client.get_run(parent.run_id).info.status == "FINISHED"


@pytest.mark.parametrize("exported", [None, "sqlite:///exported.db"])
def test_tracking_uri_set_to_puts_the_process_state_back(
    exported: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    if exported is None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", exported)
    before = mlflow.get_tracking_uri()
    with tracking_uri_set_to("http://127.0.0.1:9"):
        assert mlflow.get_tracking_uri() == "http://127.0.0.1:9"
        assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert os.environ.get("MLFLOW_TRACKING_URI") == exported
    assert mlflow.get_tracking_uri() == before
    # nothing pinned: the variable still rules
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///later.db")
    assert mlflow.get_tracking_uri() == "sqlite:///later.db"
