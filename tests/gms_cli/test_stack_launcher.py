"""The service launcher with small real servers (python -m http.server) on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gms_cli.stack.launcher import (
    RunningService,
    ServiceSpec,
    StackError,
    free_ports,
    port_is_free,
    read_state,
    running_services,
    start_services,
    stop_recorded,
    stop_services,
    write_state,
)
from gms_cli.stack.proc import group_exists, group_members
from gms_cli.stack.services import http_ok


def http_spec(name: str, port: int, **kwargs) -> ServiceSpec:
    """A real HTTP server as a service, healthy when it answers on its port."""
    url = f"http://127.0.0.1:{port}"
    return ServiceSpec(
        name=name,
        command=(sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port)),
        port=port,
        url=url,
        health=http_ok(url),
        **kwargs,
    )


@pytest.fixture
def sentinel() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process in its own session that no stop may touch."""
    process = subprocess.Popen(["sleep", "120"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def test_services_start_in_order_are_recorded_and_stopped(tmp_path: Path, sentinel) -> None:
    first, second = free_ports(2)
    specs = [
        http_spec("first", first),
        # a server that forks a helper: stopping the service must stop its whole group
        replace(
            http_spec("second", second, depends_on=("first",)),
            command=(
                "sh",
                "-c",
                f"sleep 300 & exec {sys.executable} -m http.server -b 127.0.0.1 {second}",
            ),
        ),
    ]
    services = start_services(specs, tmp_path)
    assert [s.name for s in services] == ["first", "second"]
    assert all(s.is_alive() and s.ready_after_s is not None for s in services)
    assert services[0].started_at <= services[1].started_at
    assert len(group_members(services[1].pid)) == 2  # the server and its sleeping helper
    assert (services[0].rss_bytes() or 0) > 1 << 20
    assert read_state(tmp_path) == services
    assert (tmp_path / "logs" / "first.log").read_text().startswith("=== ")

    assert stop_services(services) == ["first", "second"]
    assert not any(group_exists(s.pid) for s in services)
    assert sentinel.poll() is None


def test_taken_port_starts_nothing_and_names_service_and_port(tmp_path: Path) -> None:
    free, taken = free_ports(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        with pytest.raises(StackError, match=f"second: port {taken} .* in use"):
            start_services([http_spec("first", free), http_spec("second", taken)], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failing_service_stops_those_already_started(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    specs = [
        http_spec("web", port),
        ServiceSpec(
            name="broken",
            command=(sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"),
            depends_on=("web",),
            health=lambda: False,
        ),
    ]
    with pytest.raises(StackError, match=r"(?s)broken exited with status 3.*bad config"):
        start_services(specs, tmp_path)
    assert read_state(tmp_path) == []
    assert port_is_free(port)  # the web server that did start is gone


def test_unhealthy_service_times_out_and_is_stopped(tmp_path: Path) -> None:
    port, wrong = free_ports(2)
    spec = replace(http_spec("web", port), health=http_ok(f"http://127.0.0.1:{wrong}"))
    began = time.monotonic()
    with pytest.raises(StackError, match="web did not become healthy within 2 s"):
        start_services([replace(spec, startup_timeout=2.0)], tmp_path)
    assert time.monotonic() - began < 10
    assert read_state(tmp_path) == []


def test_service_ignoring_sigterm_is_killed_after_grace(tmp_path: Path) -> None:
    stubborn = ServiceSpec(
        name="stubborn",
        command=(
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)",
        ),
    )
    with running_services([stubborn], tmp_path, grace_s=0.5) as services:
        service = services["stubborn"]
        time.sleep(0.5)  # let it install its handler
        began = time.monotonic()
        assert stop_services([service], grace_s=0.5) == ["stubborn"]
        assert time.monotonic() - began < 5
        assert not group_exists(service.pid)


def test_reused_pid_is_left_alone(sentinel) -> None:
    ticks = int(Path(f"/proc/{sentinel.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    impostor = RunningService(
        name="old", pid=sentinel.pid, command=("x",), log=Path("x"), start_ticks=ticks + 1
    )
    assert not impostor.is_alive()
    assert stop_services([impostor], grace_s=0.1) == []
    assert sentinel.poll() is None
    same = replace(impostor, start_ticks=ticks)
    assert same.is_alive()


def test_unreadable_state_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "services.json").write_text("{not json")
    with pytest.raises(StackError, match=r"services\.json is unreadable"):
        read_state(tmp_path)


def test_dependencies_must_be_listed_first(tmp_path: Path) -> None:
    a, b = free_ports(2)
    with pytest.raises(StackError, match="depends on"):
        start_services([http_spec("b", b, depends_on=("a",)), http_spec("a", a)], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_state_file_round_trips(tmp_path: Path) -> None:
    service = RunningService(
        name="s", pid=os.getpid(), command=("a", "b"), log=tmp_path / "s.log", port=1, url="u"
    )
    write_state(tmp_path, [service])
    assert json.loads((tmp_path / "services.json").read_text())["services"][0]["pid"] == os.getpid()
    assert read_state(tmp_path) == [service]


def test_failed_set_up_step_stops_the_service(tmp_path: Path) -> None:
    (port,) = free_ports(1)

    def create_buckets() -> None:
        raise RuntimeError("bucket quota exceeded")

    spec = replace(http_spec("store", port), on_ready=create_buckets)
    with pytest.raises(StackError, match="store answers but its set-up step failed: bucket quota"):
        start_services([spec], tmp_path)
    assert port_is_free(port)


def test_stop_recorded_reports_only_what_was_still_running(tmp_path: Path) -> None:
    a, b = free_ports(2)
    services = start_services([http_spec("a", a), http_spec("b", b)], tmp_path)
    os.killpg(services[0].pid, signal.SIGKILL)
    time.sleep(0.3)
    assert [s.name for s in stop_recorded(tmp_path)] == ["b"]
    assert read_state(tmp_path) == []
    assert not any(group_exists(s.pid) for s in services)
