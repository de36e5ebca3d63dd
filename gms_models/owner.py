"""Which process owns what a run leaves behind (``<pid>-<host>``), and whether it is gone. A process
id means something only on its own host, so an owner on another host is never judged gone."""

from __future__ import annotations

import hashlib
import os
import re
import socket

HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
OWNER_PATTERN = r"\d+-[0-9a-f]{8}"


def owner_token(pid: int | None = None) -> str:
    return f"{os.getpid() if pid is None else pid}-{HOST}"


def owner_gone(token: str) -> bool:
    if re.fullmatch(OWNER_PATTERN, token) is None:
        return False
    pid, host = token.split("-")
    if host != HOST:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
