"""The latency an export step logs (and the pick rule reads) is a session's steady time: the
runs in which ONNX Runtime pages its memory in are never timed."""

from __future__ import annotations

import time

import numpy as np

from gms_models.runtime.sessions import WARMUP_RUNS
from tasks.export import _session_latency_ms

PAGING_IN_RUNS = 2  # an ORT session's first two runs each fault its buffers in (measured)


class PagingInSession:
    """Slow for its first two runs, as an ORT session is while it pages its memory in."""

    input_names = ("image",)
    output_names = ("image_embeddings",)

    def __init__(self, first: float, steady: float) -> None:
        self.first, self.steady, self.calls = first, steady, 0

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert feeds["image"].shape == (1, 3, 32, 32)
        self.calls += 1
        time.sleep(self.first if self.calls <= PAGING_IN_RUNS else self.steady)
        return {"image_embeddings": np.zeros((1, 256, 2, 2), np.float32)}


def test_the_paging_in_runs_are_not_timed_even_with_one_timed_run() -> None:
    session = PagingInSession(first=0.3, steady=0.01)
    latency = _session_latency_ms(session, img_size=32, runs=1)
    assert session.calls == WARMUP_RUNS + 1
    assert 10 <= latency < 150
