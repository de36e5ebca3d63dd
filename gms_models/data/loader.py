"""DataLoader workers start by ``forkserver`` (else ``spawn``), never fork: a worker forked after a
Prefect flow inherits Prefect 3.8's at-exit drain, fails it and exits 1 (README, Tests)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext


def worker_context(num_workers: int) -> BaseContext | None:
    if num_workers == 0:
        return None
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)
