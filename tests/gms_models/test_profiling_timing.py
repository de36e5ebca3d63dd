"""The one timing loop: warm-up calls are not timed, the median of the timed ones is returned."""

from __future__ import annotations

import time

from gms_models.profiling import median_seconds


def test_median_seconds_skips_the_warmup_and_takes_the_median() -> None:
    sleeps = iter([0.2, 0.2, 0.0, 0.01, 0.05])  # two warm-ups, then three timed calls
    calls = []

    def step() -> None:
        seconds = next(sleeps)
        calls.append(seconds)
        time.sleep(seconds)

    median = median_seconds(step, runs=3, warmup=2)
    assert len(calls) == 5
    # the middle of 0.0, 0.01 and 0.05 s; timed warm-ups would make it 0.2 s
    assert 0.01 <= median < 0.2
