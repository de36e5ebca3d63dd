"""`gms stack up|status|down` with the real Prefect, MLflow and S3 servers on random ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gms_cli.stack.launcher import free_ports, port_is_free, read_state, stop_recorded
from gms_cli.stack.proc import group_exists
from gms_cli.stack.services import S3Endpoint, prefect_worker_online
from tests.tasks.test_registry_wiped_store import register_files

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
GMS = str(Path(sys.executable).parent / "gms")


def gms(*args: object, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}  # a wide table: no cell is cut short
    result = subprocess.run(
        [GMS, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )
    result.stdout, result.stderr = (" ".join(t.split()) for t in (result.stdout, result.stderr))
    return result


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    """The stack folder; whatever it records is stopped at the end, even on failure."""
    stack = tmp_path / "stack"
    yield stack
    stop_recorded(stack, grace_s=5)


@pytest.fixture
def sentinel() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _mlflow_artifact_lands_in_s3(tracking_uri: str, s3: S3Endpoint, tmp_path: Path) -> list[str]:
    """Log one artifact through the MLflow server; return the keys in its S3 bucket."""
    import boto3
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.create_experiment("stack-smoke")
    run = client.create_run(experiment)
    note = tmp_path / "note.txt"
    note.write_text("stored in the object store")
    client.log_artifact(run.info.run_id, str(note))
    s3_client = boto3.client(
        "s3",
        endpoint_url=s3.url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name=s3.region,
    )
    listing = s3_client.list_objects_v2(Bucket="gms-mlflow").get("Contents", [])
    return [obj["Key"] for obj in listing]


CONTROL_RUN = """
from prefect import flow
from prefect.deployments import run_deployment

flow.from_source(source=".", entrypoint="tiny.py:tiny").deploy(
    name="smoke", work_pool_name="gpu", work_queue_name={queue!r}
)
print(run_deployment("tiny/smoke", timeout=600).state.type.value)
"""


def _run_on_queue(queue: str, api_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Deploy a one-line flow on ``queue`` of pool gpu and run it to its end, in a fresh
    process talking to ``api_url``."""
    folder.mkdir()
    (folder / "tiny.py").write_text(
        "from prefect import flow\n\n\n@flow\ndef tiny() -> int:\n    return 1\n"
    )
    env = {**os.environ, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(folder / "home")}
    code = CONTROL_RUN.format(queue=queue)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
        timeout=700,
    )  # fmt: skip


def stack_up(
    stack_dir: Path, prefect: int, mlflow: int, s3: int
) -> subprocess.CompletedProcess[str]:
    up = gms(
        "stack", "up", "--dir", stack_dir,
        "--prefect-port", prefect, "--mlflow-port", mlflow, "--s3-port", s3,
        timeout=300,
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    return up


@pytest.mark.slow  # 152 s on a quiet 2-core machine (CI log): out of the 10-minute default run
def test_stack_up_status_refusals_and_down(stack_dir: Path, tmp_path: Path, sentinel) -> None:
    prefect, mlflow, s3 = free_ports(3)
    up = stack_up(stack_dir, prefect, mlflow, s3)
    assert f"export PREFECT_API_URL=http://127.0.0.1:{prefect}/api" in up.stdout
    assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{mlflow}" in up.stdout
    assert f"export MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:{s3}" in up.stdout

    services = read_state(stack_dir)
    names = ["s3", "prefect-server", "mlflow", "worker", "control-worker"]
    assert [s.name for s in services] == names
    assert all(s.is_alive() for s in services)
    assert _get_json(f"http://127.0.0.1:{prefect}/api/health") is True
    with urllib.request.urlopen(f"http://127.0.0.1:{mlflow}/health", timeout=10) as response:
        assert response.status == 200
    assert prefect_worker_online(f"http://127.0.0.1:{prefect}/api", "gpu")()
    endpoint = S3Endpoint(url=f"http://127.0.0.1:{s3}")
    keys = _mlflow_artifact_lands_in_s3(f"http://127.0.0.1:{mlflow}", endpoint, tmp_path)
    assert any(key.endswith("/artifacts/note.txt") for key in keys)
    # a run of the control queue (created after the stack, as `prefect deploy --all` does) is
    # taken by the control worker, not the GPU worker's one slot
    ran = _run_on_queue("control", f"http://127.0.0.1:{prefect}/api", tmp_path / "control")
    assert ran.returncode == 0 and "COMPLETED" in ran.stdout, ran.stdout[-2000:] + ran.stderr
    control_log = next(s.log for s in services if s.name == "control-worker").read_text()
    assert "submitting flow run" in control_log, control_log[-2000:]

    status = gms("stack", "status", "--dir", stack_dir)
    assert status.returncode == 0
    for service in services:
        assert f"│ {service.name} │ {service.pid} │ yes │" in status.stdout

    # A second stack that wants the Prefect port: refused up front, nothing started.
    other_mlflow, other_s3 = free_ports(2)
    clash = gms(
        "stack", "up", "--dir", tmp_path / "other",
        "--prefect-port", prefect, "--mlflow-port", other_mlflow, "--s3-port", other_s3,
    )  # fmt: skip
    assert clash.returncode == 2
    assert f"prefect-server: port {prefect} on 127.0.0.1 is already in use" in clash.stderr
    assert not (tmp_path / "other").exists()
    assert port_is_free(other_mlflow) and port_is_free(other_s3)
    again = gms("stack", "up", "--dir", stack_dir)
    assert again.returncode == 2
    assert "already running" in again.stderr

    down = gms("stack", "down", "--dir", stack_dir)
    assert down.returncode == 0, down.stderr
    for service in services:
        assert f"stopped {service.name} (pid {service.pid})" in down.stdout
        assert not group_exists(service.pid)
    assert read_state(stack_dir) == []
    assert all(port_is_free(p) for p in (prefect, mlflow, s3))
    assert sentinel.poll() is None  # an unrelated process is untouched


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_up_after_down_names_the_versions_whose_files_the_store_lost(
    stack_dir: Path, tmp_path: Path
) -> None:
    """The registry (SQLite in the stack folder) outlives the S3 server's memory."""
    ports = free_ports(3)
    first = stack_up(stack_dir, *ports)
    assert "warning" not in first.stdout
    package = tmp_path / "package"
    package.mkdir()
    (package / "MLmodel").write_text("flavors: {}\n")
    version, source = register_files(f"http://127.0.0.1:{ports[1]}", package)
    assert gms("stack", "down", "--dir", stack_dir).returncode == 0

    again = stack_up(stack_dir, *ports)
    assert (
        f"warning: registered model version gms-encoder/{version} -> {source} has no files in "
        "the artifact store any more" in again.stdout
    ), again.stdout
