"""One heavy step per device at a time in a process; across flow runs, the Prefect global
concurrency limit ``gpu`` caps the CUDA steps where it exists."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tasks.execution import in_flow_run

_free = threading.Condition()
_busy: set[str] = set()


@contextmanager
def device_slot(requested: str = "auto") -> Iterator[str]:
    """Hold one concrete device of ``requested`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``: every
    visible GPU for ``auto``/``cuda``); yields its name. ``auto`` and ``cpu`` share one slot."""
    candidates = [requested]
    if requested in ("auto", "cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        # no GPU and "cuda": the library reports the missing GPU with a clear error
        fallback = ["cuda" if requested == "cuda" else "cpu"]
        candidates = [f"cuda:{i}" for i in range(count)] or fallback
    with _free:
        while all(d in _busy for d in candidates):
            _free.wait()
        device = next(d for d in candidates if d not in _busy)
        _busy.add(device)
    try:
        if device.startswith("cuda") and in_flow_run():
            from prefect.concurrency.sync import concurrency

            with concurrency("gpu", occupy=1, strict=False):
                yield device
        else:
            yield device
    finally:
        with _free:
            _busy.discard(device)
            _free.notify_all()


def torch_threads(threads: int | None) -> None:
    """Set torch's intra-op threads (None: torch's default). On a small shared CPU one thread per
    step avoids oversubscription, which slows small models down many times over."""
    if threads is None:
        return
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
