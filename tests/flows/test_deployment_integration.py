"""The front door for real: Prefect server + MLflow server (SQLite) + a process worker on
127.0.0.1, ``prefect deploy --all`` from the repository, ``prefect deployment run
'distill-ablation/toy'`` for two tiny arms, then the records checked through the MLflow client.
Every server is stopped by pid at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gms_cli.stack.launcher import free_ports, running_services
from gms_cli.stack.services import (
    mlflow_server_spec,
    prefect_api_url,
    prefect_server_spec,
    prefect_worker_spec,
)

# Slow as well: about two minutes on a quiet 2-core machine. Run it with `pytest -m integration`.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
EXPERIMENT = "it-table2"


def prefect_cli(*args: str, api_url: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update({"PREFECT_API_URL": api_url, "COLUMNS": "250", "DO_NOT_TRACK": "true"})
    return subprocess.run(
        [PREFECT, "--no-prompt", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tiny_run_params(tmp_path: Path) -> dict[str, object]:
    return {
        "experiment": EXPERIMENT,
        "arms": {"gmf_2282": {}, "resnet18": {}},
        "train": {"img_size": 64, "batch_size": 2, "epochs": 1, "num_workers": 0, "device": "cpu"},
        "export": {"decoder": False},
        "evaluate": {
            "max_images": 2,
            "mask_grid_images": 1,
            "profile_img_size": 64,
            "latency_runs": 1,
            "latency_runtimes": ["onnxruntime"],
        },
        "data": {"root": str(tmp_path / "data"), "demo_scale": "tiny"},
        "teacher": {"backend": "torch"},
        "tracking": {"runs_dir": str(tmp_path / "runs")},
        "torch_threads": 1,
    }


def test_deploy_and_run_distill_ablation_through_a_worker(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    prefect_port, mlflow_port = free_ports(2)
    api_url = prefect_api_url(prefect_port)
    tracking_uri = f"http://127.0.0.1:{mlflow_port}"
    specs = [
        prefect_server_spec(prefect_port, tmp_path / "prefect"),
        mlflow_server_spec(mlflow_port, tmp_path / "mlflow"),
        prefect_worker_spec(
            api_url,
            tmp_path / "worker",
            pool="gpu",
            env={"MLFLOW_TRACKING_URI": tracking_uri, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
            cwd=REPO,
        ),
    ]
    with running_services(specs, tmp_path / "stack") as services:
        deployed = prefect_cli("deploy", "--all", api_url=api_url, timeout=600)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        assert "distill-ablation/toy" in deployed.stdout

        run = prefect_cli(
            "deployment", "run", "distill-ablation/toy",
            "--params", json.dumps({"params": tiny_run_params(tmp_path)}),
            "--watch", "--watch-interval", "5", "--watch-timeout", "1200",
            api_url=api_url, timeout=1300,
        )  # fmt: skip
        worker_log = services["worker"].log.read_text(errors="replace")
        assert run.returncode == 0, run.stdout[-2000:] + worker_log[-6000:]
        assert "Completed" in run.stdout, run.stdout[-2000:] + worker_log[-6000:]
        client = MlflowClient(tracking_uri)
        check_records(client, tmp_path, prefect_port)


def check_records(client, tmp_path: Path, prefect_port: int) -> None:
    """One parent and two children with params, metrics, artifacts; the table; the champion."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["gmf_2282", "resnet18"]
    assert parent.data.tags["gms.source"] == "prefect-deployment"
    assert parent.data.tags["prefect.deployment"] == "toy"
    assert parent.data.tags["prefect.flow_run_url"].startswith(f"http://127.0.0.1:{prefect_port}")
    # the artifacts were proxied by the MLflow server into its own artifact root
    artifact_root = tmp_path / "mlflow" / "artifacts"
    for child in children:
        assert child.info.status == "FINISHED"
        assert {"arch", "lr", "epochs", "img_size", "batch_size"} <= set(child.data.params)
        assert {"last_loss", "miou", "params_m", "macs_g", "latency_ms_onnxruntime"} <= set(
            child.data.metrics
        )
        listed = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"checkpoint", "onnx", "features", "eval"} <= listed
    tables = {a.path for a in client.list_artifacts(parent.info.run_id, "tables")}
    assert "tables/table2_distill_ablation.md" in tables
    assert any(artifact_root.rglob("table2_distill_ablation.md"))
    champion = client.get_model_version_by_alias("gms-encoder", "champion")
    assert champion.run_id in {c.info.run_id for c in children}
    assert parent.data.tags["gms.champion"] in {"gmf_2282", "resnet18"}
