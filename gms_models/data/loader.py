"""Start method of DataLoader worker processes: a clean interpreter, never a fork.

A process that has run a Prefect flow carries Prefect's background services (log and event
workers). Forking it copies their state into each worker: Prefect 3.8 resets the services after a
fork (``_done_event = None``) but leaves their ``threading`` at-exit drain registered, so every
forked worker fails that drain's assertion in ``threading._shutdown()`` and exits with status 1
after its last batch. Workers started by ``forkserver`` (``spawn`` where it is missing) inherit no
threads, whatever ran before in the parent.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext


def worker_context(num_workers: int) -> BaseContext | None:
    """The multiprocessing context for ``DataLoader(multiprocessing_context=...)``."""
    if num_workers == 0:
        return None
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)
