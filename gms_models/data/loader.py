"""Start method of DataLoader worker processes: ``forkserver`` (``spawn`` where it is missing),
never a fork. A worker forked from a process that ran a Prefect flow inherits Prefect 3.8's
at-exit drain of its log/event services, fails it and exits with status 1 (README, Tests)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext


def worker_context(num_workers: int) -> BaseContext | None:
    """The multiprocessing context for ``DataLoader(multiprocessing_context=...)``."""
    if num_workers == 0:
        return None
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)
