"""Facts about a process group read from ``/proc``: alive, same process as recorded, memory.
A service leads its own session, so its process group id is its pid."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_PROC = Path("/proc")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (field 3 onwards), or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None when unknown."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def group_exists(pgid: int) -> bool:
    """True while any process of group ``pgid`` exists (zombie children of ours are reaped)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pgid)
    # The leader may be a zombie waiting for a parent that is not us; the group is then gone
    # unless other members remain, which only a scan of /proc can tell.
    if fields is not None and fields[0] == "Z":
        return bool(group_members(pgid))
    return True


def is_same_process(pid: int, recorded_ticks: int | None) -> bool:
    """False when ``pid`` now belongs to a different process than the one recorded."""
    if recorded_ticks is None:
        return True
    now = start_ticks(pid)
    return now is None or now == recorded_ticks


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in group ``pgid``; empty without ``/proc``."""
    pids = [int(e.name) for e in _PROC.iterdir() if e.name.isdigit()] if _PROC.is_dir() else []
    stats = {pid: _stat_fields(pid) for pid in pids}
    return [
        pid
        for pid, fields in stats.items()
        if fields and fields[0] != "Z" and int(fields[2]) == pgid
    ]


def group_rss_bytes(pgid: int) -> int | None:
    """Resident memory of all processes in group ``pgid`` (Linux), or None when unknown."""
    if not _PROC.is_dir():
        return None
    stats = (_stat_fields(pid) for pid in group_members(pgid))
    return sum(int(fields[21]) * _PAGE for fields in stats if fields)
