"""`gms stack` commands that need no server: refusals, empty status, the stack's service specs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from gms_cli.stack.launcher import free_ports
from gms_cli.stack.local import StackPorts, client_env, local_stack_specs

GMS = str(Path(sys.executable).parent / "gms")


def gms(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI; rich wraps long lines, so output comes back with spaces collapsed."""
    # The timeout guards against a hang only: start-up under a loaded CI machine takes a while.
    result = subprocess.run([GMS, *args], capture_output=True, text=True, timeout=600)
    result.stdout, result.stderr = (" ".join(t.split()) for t in (result.stdout, result.stderr))
    return result


def test_up_with_a_taken_port_names_it_and_starts_nothing(tmp_path: Path) -> None:
    prefect, mlflow, s3 = free_ports(3)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", mlflow))
        holder.listen()
        result = gms(
            "stack", "up", "--dir", str(tmp_path / "stack"),
            "--prefect-port", str(prefect), "--mlflow-port", str(mlflow), "--s3-port", str(s3),
        )  # fmt: skip
    assert result.returncode == 2
    assert f"mlflow: port {mlflow} on 127.0.0.1 is already in use" in " ".join(
        result.stderr.split()
    )
    assert "nothing was started" in result.stderr
    assert not (tmp_path / "stack").exists()


def test_status_down_and_env_without_a_stack(tmp_path: Path) -> None:
    status = gms("stack", "status", "--dir", str(tmp_path))
    assert status.returncode == 1
    assert "no stack recorded" in status.stdout
    down = gms("stack", "down", "--dir", str(tmp_path))
    assert down.returncode == 0
    assert "no stack recorded" in down.stdout
    env = gms("stack", "env", "--dir", str(tmp_path))
    assert env.returncode == 2
    assert "gms stack up" in env.stderr


def test_local_stack_services_are_loopback_light_and_wired_together(tmp_path: Path) -> None:
    ports = StackPorts(prefect=14200, mlflow=15000, s3=19000)
    specs = {s.name: s for s in local_stack_specs(tmp_path, ports)}
    assert list(specs) == ["s3", "prefect-server", "mlflow", "worker", "control-worker"]
    assert {s.port for s in specs.values()} == {14200, 15000, 19000, None}
    for spec in specs.values():
        assert spec.env["DO_NOT_TRACK"] == "true"
        assert spec.env["MLFLOW_DISABLE_TELEMETRY"] == "true"
        assert spec.env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
        if spec.port is not None:
            assert "127.0.0.1" in spec.command
    mlflow = specs["mlflow"]
    assert mlflow.command[mlflow.command.index("--workers") + 1] == "1"
    assert "s3://gms-mlflow/" in mlflow.command
    assert mlflow.env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert mlflow.env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:19000"
    assert specs["prefect-server"].env["PREFECT_HOME"] == str(tmp_path.resolve() / "prefect")
    worker = specs["worker"]
    assert worker.depends_on == ("prefect-server",)
    assert worker.command[3:10] == ("--pool", "gpu", "--type", "process", "--limit", "1", "--name")
    assert worker.command[10] != local_stack_specs(tmp_path, ports)[3].command[10]  # fresh name
    assert worker.command[11:] == ("--work-queue", "default")
    assert worker.env.items() >= client_env(ports).items()
    # the runs that only start and await others (prefect.yaml's control queue) get a worker of
    # their own, without a GPU or a limit, so that they never hold the GPU worker's one slot
    control = specs["control-worker"]
    assert control.depends_on == ("prefect-server",)
    assert control.command[3:8] == ("--pool", "gpu", "--type", "process", "--name")
    assert control.command[9:] == ("--work-queue", "control")
    assert control.env.items() >= {**client_env(ports), "CUDA_VISIBLE_DEVICES": ""}.items()
    assert client_env(ports)["PREFECT_API_URL"] == "http://127.0.0.1:14200/api"
    assert not list(tmp_path.iterdir())  # building specs creates no folders


def test_stack_workers_poll_the_queues_of_prefect_yaml() -> None:
    import yaml

    from gms_cli.stack.local import CONTROL_QUEUE, GPU_QUEUE

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "prefect.yaml").read_text())
    queues = {d["work_pool"]["work_queue_name"] for d in config["deployments"]}
    assert queues == {GPU_QUEUE, CONTROL_QUEUE}
