"""Port checks done before anything is started, and free ports for tests."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from gms_cli.stack.errors import StackError

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when a server could bind ``host:port`` now (same SO_REUSEADDR rule as uvicorn)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports the kernel reports free on ``host`` (held open together)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def check_ports(ports: Mapping[str, int], host: str = LOOPBACK) -> None:
    """Raise :class:`StackError` naming every service (``ports``: name → port) whose port is
    taken or shared."""
    problems: list[str] = []
    owner: dict[int, str] = {}
    for name, port in ports.items():
        if not 0 < port < 65536:
            problems.append(f"{name}: port {port} is not a valid TCP port")
        elif port in owner:
            problems.append(f"{name}: port {port} is also given to {owner[port]}")
        elif not port_is_free(port, host):
            problems.append(f"{name}: port {port} on {host} is already in use")
        owner.setdefault(port, name)
    if problems:
        raise StackError("nothing was started; " + "; ".join(problems))
