"""Specs and health probes of the servers the stack and the integration tests start."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gms_cli.stack.launcher import LOOPBACK, HealthCheck, ServiceSpec, StackError

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}
MLFLOW_BUCKET = "gms-mlflow"
DVC_BUCKET = "gms-dvc"
S3_SERVICE = "s3"
PREFECT_SERVICE = "prefect-server"
MLFLOW_SERVICE = "mlflow"
_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class S3Endpoint:
    """The S3-compatible server and its credentials (moto takes any: placeholders, no secrets)."""

    url: str
    access_key: str = "gms-local"
    secret_key: str = "gms-local-secret"
    region: str = "us-east-1"

    def client_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "MLFLOW_S3_ENDPOINT_URL": self.url,
        }

    def client(self, config: Any = None) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
        )


def http_ok(url: str) -> HealthCheck:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S):
                return True  # urlopen raises HTTPError for any status but 2xx
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return probe


def s3_ready(endpoint: S3Endpoint) -> HealthCheck:
    def probe() -> bool:
        import botocore.exceptions
        from botocore.config import Config

        client = endpoint.client(
            Config(connect_timeout=_PROBE_TIMEOUT_S, retries={"max_attempts": 1})
        )
        try:
            client.list_buckets()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return False
        return True

    return probe


def prefect_worker_online(api_url: str, pool: str, worker: str | None = None) -> HealthCheck:
    """Ready when the API lists an ONLINE worker ``worker`` in ``pool`` (an earlier worker of the
    pool stays ONLINE until its heartbeat times out)."""
    url = f"{api_url.rstrip('/')}/work_pools/{pool}/workers/filter"

    def probe() -> bool:
        request = urllib.request.Request(
            url, data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=_PROBE_TIMEOUT_S) as response:
                workers = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return any(
            w.get("status") == "ONLINE" and (worker is None or w.get("name") == worker)
            for w in workers
        )

    return probe


def executable(name: str) -> str:
    """Path of a console script of this environment (beside the running Python), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise StackError(f"{name!r} is not installed in this environment (run `uv sync`)")
    return found


def create_buckets(endpoint: S3Endpoint, buckets: tuple[str, ...]) -> None:
    client = endpoint.client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


def s3_server_spec(
    port: int,
    *,
    buckets: tuple[str, ...] = (MLFLOW_BUCKET, DVC_BUCKET),
    endpoint: S3Endpoint | None = None,
) -> ServiceSpec:
    """moto's S3 server (objects in memory only) on ``127.0.0.1:port``, with ``buckets``."""
    endpoint = endpoint or S3Endpoint(url=f"http://{LOOPBACK}:{port}")
    return ServiceSpec(
        name=S3_SERVICE,
        command=(executable("moto_server"), "-H", LOOPBACK, "-p", str(port)),
        port=port,
        url=endpoint.url,
        env=TELEMETRY_OFF,
        health=s3_ready(endpoint),
        on_ready=(lambda: create_buckets(endpoint, buckets)) if buckets else None,
        startup_timeout=60.0,
    )


def prefect_api_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/api"


def prefect_server_spec(port: int, home: Path) -> ServiceSpec:
    """``prefect server start`` on ``127.0.0.1:port`` with its SQLite database under ``home``."""
    home = Path(home).resolve()
    api = prefect_api_url(port)
    return ServiceSpec(
        name=PREFECT_SERVICE,
        command=(executable("prefect"), "server", "start", "--host", LOOPBACK, "--port", str(port)),
        port=port,
        url=f"http://{LOOPBACK}:{port}",
        env={
            **TELEMETRY_OFF,
            "PREFECT_HOME": str(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            "PREFECT_API_URL": api,
        },
        health=http_ok(f"{api}/health"),
        makedirs=(home,),
    )


def prefect_worker_spec(
    api_url: str,
    home: Path,
    *,
    pool: str = "gpu",
    name: str = "worker",
    limit: int | None = 1,
    queues: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ServiceSpec:
    """A Prefect process worker on ``pool`` polling ``queues`` (all when empty), at most ``limit``
    runs at once; ``env`` reaches its flow runs, ``GMS_HOME`` (prefect.yaml's pull step) is
    ``cwd`` or this folder. A fresh name keeps an earlier worker from passing the health check."""
    home = Path(home).resolve()
    worker_name = f"gms-{name}-{uuid.uuid4().hex[:8]}"
    command = (
        executable("prefect"), "worker", "start", "--pool", pool, "--type", "process",
        *(("--limit", str(limit)) if limit is not None else ()), "--name", worker_name,
        *(arg for queue in queues for arg in ("--work-queue", queue)),
    )  # fmt: skip
    return ServiceSpec(
        name=name,
        command=command,
        env={
            **TELEMETRY_OFF,
            "GMS_HOME": str(Path(cwd or Path.cwd()).resolve()),
            **(env or {}),
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
        },
        health=prefect_worker_online(api_url, pool, worker_name),
        depends_on=(PREFECT_SERVICE,),
        cwd=cwd,
        makedirs=(home,),
    )


def mlflow_server_spec(port: int, root: Path, *, s3: S3Endpoint | None = None) -> ServiceSpec:
    """``mlflow server``: SQLite under ``root``, one worker, no job runner; artifacts proxied into
    ``s3://gms-mlflow/`` on ``s3`` when given, else ``<root>/artifacts``."""
    root = Path(root).resolve()
    destination = f"s3://{MLFLOW_BUCKET}/" if s3 is not None else (root / "artifacts").as_uri()
    command = (
        executable("mlflow"), "server", "--host", LOOPBACK, "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", destination, "--workers", "1",
    )  # fmt: skip
    return ServiceSpec(
        name=MLFLOW_SERVICE,
        command=command,
        port=port,
        url=f"http://{LOOPBACK}:{port}",
        env={
            **TELEMETRY_OFF,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            **(s3.client_env() if s3 is not None else {}),
        },
        health=http_ok(f"http://{LOOPBACK}:{port}/health"),
        makedirs=(root,),
    )
