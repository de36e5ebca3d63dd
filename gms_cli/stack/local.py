"""The ``gms stack`` composition on 127.0.0.1 (README: "Local stack and Docker")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gms_cli.stack.launcher import (
    RunningService,
    ServiceSpec,
    StackError,
    clear_state,
    read_state,
    start_services,
)
from gms_cli.stack.services import (
    MLFLOW_SERVICE,
    PREFECT_SERVICE,
    S3_SERVICE,
    S3Endpoint,
    mlflow_server_spec,
    prefect_api_url,
    prefect_server_spec,
    prefect_worker_spec,
    s3_server_spec,
)

DEFAULT_STACK_DIR = Path(".gms/stack")
#: prefect.yaml's work queues: the GPU steps, and the runs that await other runs.
GPU_QUEUE = "default"
CONTROL_QUEUE = "control"


@dataclass(frozen=True)
class StackPorts:
    """Loopback ports of the three servers (the worker listens on none)."""

    prefect: int = 4200
    mlflow: int = 5000
    s3: int = 9000

    @classmethod
    def from_services(cls, services: Sequence[RunningService]) -> StackPorts:
        ports = {s.name: s.port for s in services if s.port is not None}
        missing = [n for n in (PREFECT_SERVICE, MLFLOW_SERVICE, S3_SERVICE) if n not in ports]
        if missing:
            raise StackError(f"the recorded stack has no port for {', '.join(missing)}")
        return cls(
            prefect=ports[PREFECT_SERVICE], mlflow=ports[MLFLOW_SERVICE], s3=ports[S3_SERVICE]
        )


def s3_endpoint(ports: StackPorts) -> S3Endpoint:
    return S3Endpoint(url=f"http://127.0.0.1:{ports.s3}")


def client_env(ports: StackPorts) -> dict[str, str]:
    """The variables a shell (or the worker's flow runs) needs to use this stack."""
    return {
        "PREFECT_API_URL": prefect_api_url(ports.prefect),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{ports.mlflow}",
        **s3_endpoint(ports).client_env(),
    }


def local_stack_specs(
    stack_dir: Path, ports: StackPorts, *, pool: str = "gpu"
) -> list[ServiceSpec]:
    """The five services in start order (the workers wait for the Prefect server)."""
    stack_dir = Path(stack_dir).resolve()
    s3 = s3_endpoint(ports)
    api_url = prefect_api_url(ports.prefect)
    home = stack_dir / "prefect"
    return [
        s3_server_spec(ports.s3, endpoint=s3),
        prefect_server_spec(ports.prefect, home),
        mlflow_server_spec(ports.mlflow, stack_dir / "mlflow", s3=s3),
        prefect_worker_spec(
            api_url, home, pool=pool, name="worker",
            limit=1, queues=(GPU_QUEUE,), env=client_env(ports),
        ),
        # no GPU and no limit on runs at once, as the worker container's control worker
        prefect_worker_spec(
            api_url, home, pool=pool, name="control-worker",
            limit=None, queues=(CONTROL_QUEUE,),
            env={**client_env(ports), "CUDA_VISIBLE_DEVICES": ""},
        ),
    ]  # fmt: skip


def start_local_stack(
    stack_dir: Path, ports: StackPorts, *, pool: str, report: Callable[[str], None]
) -> list[RunningService]:
    """Start the stack unless one recorded under ``stack_dir`` still runs."""
    stack_dir = Path(stack_dir).resolve()
    recorded = read_state(stack_dir)
    alive = [s for s in recorded if s.is_alive()]
    if alive:
        names = ", ".join(f"{s.name} (pid {s.pid})" for s in alive)
        raise StackError(
            f"a stack recorded in {stack_dir} is already running: {names}; "
            f"stop it with `gms stack down --dir {stack_dir}`"
        )
    if recorded:
        clear_state(stack_dir)
    specs = local_stack_specs(stack_dir, ports, pool=pool)
    return start_services(specs, stack_dir, report=report)
