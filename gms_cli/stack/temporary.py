"""The temporary Prefect server of one ``gms run``, which dies with the run even by SIGKILL
(README: "What a kill leaves behind")."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from gms_cli.stack.launcher import (
    clear_state,
    free_ports,
    start_services,
    stop_recorded,
    stop_services,
)
from gms_cli.stack.services import prefect_api_url, prefect_server_spec
from gms_models.owner import owner_gone, owner_token

SERVERS_DIR = "servers"
#: What makes ``prefect server start`` the server Prefect itself starts for a run: no UI, and
#: only the background services a temporary server needs.
_TEMPORARY_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}


def sweep_orphaned_servers(home: Path) -> list[Path]:
    """Stop the servers recorded under ``home`` whose owner is gone; return their folders."""
    swept = []
    servers = Path(home) / SERVERS_DIR
    for folder in sorted(servers.iterdir()) if servers.is_dir() else []:
        if owner_gone(folder.name):
            stop_recorded(folder)
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
    return swept


@contextmanager
def temporary_prefect_server(home: Path) -> Iterator[str]:
    """A Prefect server on a free loopback port with its database under ``home``, owned by this
    process; yields its API URL and stops it on exit."""
    home = Path(home).resolve()
    sweep_orphaned_servers(home)
    record = home / SERVERS_DIR / owner_token()
    port = free_ports(1)[0]
    spec = prefect_server_spec(port, home)
    spec = replace(spec, env={**spec.env, **_TEMPORARY_ENV}, die_with_parent=True)
    services = start_services([spec], record)
    try:
        yield prefect_api_url(port)
    finally:
        stop_services(services)
        clear_state(record)
        shutil.rmtree(record, ignore_errors=True)
