"""Start local services as background process groups, wait for health, stop them by pid."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from gms_cli.stack import proc
from gms_models.errors import GmsError
from gms_models.files import atomic_write_text

STATE_FILE = "services.json"
LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 0.25
HealthCheck = Callable[[], bool]


class StackError(GmsError):
    """A service could not be started, checked or stopped; the message names it and its log."""


def port_is_free(port: int) -> bool:
    """True when a server could bind the loopback port now (same SO_REUSEADDR rule as uvicorn)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports the kernel reports free (held open together)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def check_ports(ports: Mapping[str, int]) -> None:
    """Raise :class:`StackError` naming each service (name → port) whose port is taken or shared."""
    problems: list[str] = []
    owner: dict[int, str] = {}
    for name, port in ports.items():
        if not 0 < port < 65536:
            problems.append(f"{name}: port {port} is not a valid TCP port")
        elif port in owner:
            problems.append(f"{name}: port {port} is also given to {owner[port]}")
        elif not port_is_free(port):
            problems.append(f"{name}: port {port} on {LOOPBACK} is already in use")
        owner.setdefault(port, name)
    if problems:
        raise StackError("nothing was started; " + "; ".join(problems))


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service. ``health`` returns True once it answers (it must not raise; none:
    ready once it runs); ``on_ready`` runs once after that; ``depends_on`` must be healthy before
    it starts; ``makedirs`` are made just before launch (a refused start leaves no folders);
    ``die_with_parent`` (Linux): SIGTERM when its starter dies, even by SIGKILL."""

    name: str
    command: tuple[str, ...]
    port: int | None = None
    url: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    health: HealthCheck | None = None
    on_ready: Callable[[], None] | None = None
    depends_on: tuple[str, ...] = ()
    cwd: Path | None = None
    makedirs: tuple[Path, ...] = ()
    startup_timeout: float = 180.0
    die_with_parent: bool = False


@dataclass(frozen=True)
class RunningService:
    """A started service as recorded in the state file; its pid is also its process group id."""

    name: str
    pid: int
    command: tuple[str, ...]
    log: Path
    port: int | None = None
    url: str | None = None
    start_ticks: int | None = None
    started_at: float = 0.0
    ready_after_s: float | None = None

    def is_alive(self) -> bool:
        """True while the recorded process group still runs (a reused pid does not count)."""
        return proc.is_same_process(self.pid, self.start_ticks) and proc.group_exists(self.pid)

    def rss_bytes(self) -> int | None:
        return proc.group_rss_bytes(self.pid) if self.is_alive() else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "command": list(self.command), "log": str(self.log)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunningService:
        return cls(**{**data, "command": tuple(data["command"]), "log": Path(data["log"])})


def _log_tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-15:])
    except OSError:
        return "(no log)"


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux SIGTERM the child when this process dies (libc loaded here,
    before the fork, so the child only makes the call); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def _launch(spec: ServiceSpec, logs: Path) -> tuple[RunningService, subprocess.Popen[bytes]]:
    for folder in spec.makedirs:
        folder.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{spec.name}.log"
    with open(log_path, "ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(spec.command)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                spec.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **spec.env},
                cwd=spec.cwd,
                start_new_session=True,
                preexec_fn=_parent_death_signal() if spec.die_with_parent else None,
            )
        except OSError as exc:
            raise StackError(f"cannot start {spec.name} ({spec.command[0]}): {exc}") from exc
    return RunningService(
        name=spec.name,
        pid=popen.pid,
        command=tuple(spec.command),
        log=log_path,
        port=spec.port,
        url=spec.url,
        start_ticks=proc.start_ticks(popen.pid),
        started_at=time.time(),
    ), popen


def start_services(
    specs: Sequence[ServiceSpec], state_dir: Path, *, report: Callable[[str], None] | None = None
) -> list[RunningService]:
    """Start ``specs`` in dependency order (ports checked first), each healthy before the next;
    on any failure every started one is stopped and a :class:`StackError` names the service."""
    seen: set[str] = set()
    for spec in specs:
        missing = [dep for dep in spec.depends_on if dep not in seen]
        if spec.name in seen:
            raise StackError(f"service name {spec.name!r} is used twice")
        if missing:
            raise StackError(
                f"service {spec.name!r} depends on {missing}, which must be listed before it"
            )
        seen.add(spec.name)
    check_ports({s.name: s.port for s in specs if s.port is not None})
    state_dir = Path(state_dir)
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    say = report or (lambda _msg: None)

    started: dict[str, RunningService] = {}
    popens: dict[str, subprocess.Popen[bytes]] = {}
    launched_at: dict[str, float] = {}
    ready: set[str] = set()
    try:
        while len(ready) < len(specs):
            for spec in specs:
                if spec.name not in started and all(d in ready for d in spec.depends_on):
                    started[spec.name], popens[spec.name] = _launch(spec, logs)
                    launched_at[spec.name] = time.monotonic()
                    write_state(state_dir, list(started.values()))
                    say(f"started {spec.name} (pid {started[spec.name].pid})")
            for spec in specs:
                if spec.name not in started or spec.name in ready:
                    continue
                service = started[spec.name]
                code = popens[spec.name].poll()
                if code is not None:
                    raise StackError(
                        f"{spec.name} exited with status {code} while starting; end of its log "
                        f"{service.log}:\n{_log_tail(service.log)}"
                    )
                waited = time.monotonic() - launched_at[spec.name]
                if spec.health is None or spec.health():
                    if spec.on_ready is not None:
                        try:
                            spec.on_ready()
                        except Exception as exc:
                            raise StackError(
                                f"{spec.name} answers but its set-up step failed: {exc}"
                            ) from exc
                    started[spec.name] = replace(service, ready_after_s=round(waited, 2))
                    ready.add(spec.name)
                    write_state(state_dir, list(started.values()))
                    say(f"{spec.name} ready after {waited:.1f} s")
                elif waited > spec.startup_timeout:
                    raise StackError(
                        f"{spec.name} did not become healthy within {spec.startup_timeout:.0f} s"
                        f" ({spec.url or 'no url'}); end of its log {service.log}:\n"
                        f"{_log_tail(service.log)}"
                    )
            if len(ready) < len(specs):
                time.sleep(POLL_S)
    except BaseException:
        stop_services(list(started.values()))
        clear_state(state_dir)
        raise
    return [started[s.name] for s in specs]


def stop_services(services: Sequence[RunningService], grace_s: float = 10.0) -> list[str]:
    """SIGTERM, then after ``grace_s`` SIGKILL, to these live process groups (not a reused pid);
    returns the names of those that were still running."""
    alive = [s for s in services if s.is_alive()]
    remaining = list(alive)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for service in remaining:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(service.pid, sig)
        deadline = time.monotonic() + wait_s
        while remaining and time.monotonic() < deadline:
            time.sleep(0.05)
            remaining = [s for s in remaining if proc.group_exists(s.pid)]
    if remaining:
        raise StackError(
            "still running after SIGKILL: "
            + ", ".join(f"{s.name} (pid {s.pid})" for s in remaining)
        )
    return [s.name for s in alive]


def write_state(state_dir: Path, services: Sequence[RunningService]) -> Path:
    state = {"services": [s.to_json() for s in services]}
    return atomic_write_text(Path(state_dir) / STATE_FILE, json.dumps(state, indent=2) + "\n")


def read_state(state_dir: Path) -> list[RunningService]:
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        return [RunningService.from_json(item) for item in data["services"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise StackError(f"state file {path} is unreadable ({exc}); remove it by hand") from exc


def clear_state(state_dir: Path) -> None:
    (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)


def stop_recorded(state_dir: Path, grace_s: float = 10.0) -> list[RunningService]:
    """Stop the services recorded under ``state_dir``, remove the record; return those that ran."""
    services = read_state(state_dir)
    stopped = set(stop_services(services, grace_s))
    clear_state(state_dir)
    return [s for s in services if s.name in stopped]


@contextlib.contextmanager
def running_services(
    specs: Sequence[ServiceSpec], state_dir: Path, *, grace_s: float = 10.0
) -> Iterator[dict[str, RunningService]]:
    """For tests: start ``specs``, yield them by name, always stop them."""
    services = start_services(specs, state_dir)
    try:
        yield {s.name: s for s in services}
    finally:
        stop_services(services, grace_s)
        clear_state(state_dir)
