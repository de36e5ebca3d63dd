"""Readiness probes for the local services. Each returns a no-argument callable giving a bool."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from gms_cli.stack.launcher import HealthCheck

if TYPE_CHECKING:
    from gms_cli.stack.services import S3Endpoint

_PROBE_TIMEOUT_S = 3.0


def http_ok(url: str) -> HealthCheck:
    """Ready when ``GET url`` answers with a 2xx status."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S) as response:
                status: int = response.status  # typeshed types urlopen's result as Any
                return 200 <= status < 300
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return probe


def s3_ready(endpoint: S3Endpoint) -> HealthCheck:
    """Ready when an S3 ``ListBuckets`` call to ``endpoint`` succeeds."""

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
    """Ready when the Prefect API lists an ONLINE worker in ``pool`` (named ``worker`` if given).

    Give the name when the database may remember an earlier worker of the same pool: its
    ONLINE status outlives it until the heartbeat times out.
    """
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
