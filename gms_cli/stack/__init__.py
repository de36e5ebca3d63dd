"""Local services for development and integration tests, started and stopped by pid
(:mod:`~gms_cli.stack.launcher`, :mod:`~gms_cli.stack.services`); ``gms stack`` composes them
(:mod:`~gms_cli.stack.local`)."""

from gms_cli.stack.errors import StackError
from gms_cli.stack.launcher import (
    RunningService,
    ServiceSpec,
    read_state,
    running_services,
    start_services,
    stop_recorded,
    stop_services,
)
from gms_cli.stack.local import (
    DEFAULT_STACK_DIR,
    StackPorts,
    client_env,
    local_stack_specs,
    start_local_stack,
    stop_local_stack,
)
from gms_cli.stack.ports import LOOPBACK, check_ports, free_ports, port_is_free
from gms_cli.stack.services import (
    DVC_BUCKET,
    MLFLOW_BUCKET,
    S3Endpoint,
    create_buckets,
    mlflow_server_spec,
    prefect_api_url,
    prefect_server_spec,
    prefect_worker_spec,
    s3_server_spec,
)

__all__ = [
    "DEFAULT_STACK_DIR",
    "DVC_BUCKET",
    "LOOPBACK",
    "MLFLOW_BUCKET",
    "RunningService",
    "S3Endpoint",
    "ServiceSpec",
    "StackError",
    "StackPorts",
    "check_ports",
    "client_env",
    "create_buckets",
    "free_ports",
    "local_stack_specs",
    "mlflow_server_spec",
    "port_is_free",
    "prefect_api_url",
    "prefect_server_spec",
    "prefect_worker_spec",
    "read_state",
    "running_services",
    "s3_server_spec",
    "start_local_stack",
    "start_services",
    "stop_local_stack",
    "stop_recorded",
    "stop_services",
]
