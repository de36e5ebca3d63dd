"""Which process owns what a run leaves behind, and whether that process is gone.

An owner is ``<pid>-<host>`` (:func:`owner_token`): temporary files carry it in their names,
MLflow runs as a tag, a ``gms run``'s temporary server in its record folder's name. A process id
means something only on the host that issued it, so an owner on another host is never judged
gone: folders and tracking stores shared between hosts are safe to sweep.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket

#: This host, as owners name it.
HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
#: An owner token inside a longer name.
OWNER_PATTERN = r"\d+-[0-9a-f]{8}"


def owner_token(pid: int | None = None) -> str:
    """``<pid>-<host>`` of process ``pid`` (default: this one) on this host."""
    return f"{os.getpid() if pid is None else pid}-{HOST}"


def owner_gone(token: str) -> bool:
    """True when ``token`` names a process of this host that no longer runs.

    A live process of another user counts as running; a token of another host, or one that is
    not a token, is never gone.
    """
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
