"""What the benchmark scripts share: the reference files under ``../shared`` and the load
average each prints beside its figures (run a script as ``python benchmarks/NAME.py``, so that
this folder is on ``sys.path``)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

K = TypeVar("K")

SHARED = Path(os.environ.get("GMS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
RANDOM_TEACHER = SHARED / "reference" / "mobile_sam" / "mobile_sam_random_seed0.pt"
COCO_MINI = SHARED / "data" / "coco-mini"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: ``"1.20, 0.90, 0.75"``."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_description() -> str:
    """The CPU as Linux names it, e.g. ``"AMD EPYC (family 26, model 2, AVX-512)"``, else the
    machine type: the ratios depend on it (a full-width AVX-512 core speeds ViT-T's large
    matrix products more than the students' narrow ones; README, Benchmarks)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    name = fields.get("model name", platform.machine())
    vector = "AVX-512" if "avx512f" in fields.get("flags", "").split() else "no AVX-512"
    family, model = fields.get("cpu family", "?"), fields.get("model", "?")
    return f"{name} (family {family}, model {model}, {vector})"


def time_round(forwards: Mapping[K, Callable[[], object]]) -> dict[K, float]:
    """Wall seconds of one call of each of ``forwards``, in order."""
    times = {}
    for key, forward in forwards.items():
        start = time.perf_counter()
        forward()
        times[key] = time.perf_counter() - start
    return times


def interleaved(
    one_round: Callable[[], dict[K, float]], runs: int, warmup: int
) -> dict[K, list[float]]:
    """Seconds per key over ``runs`` rounds after ``warmup`` untimed ones. A round times every
    forward once (:func:`time_round`), so that load from other processes hits all alike."""
    times: dict[K, list[float]] = {}
    for round_ in range(warmup + runs):
        measured = one_round()
        if round_ >= warmup:
            for key, seconds in measured.items():
                times.setdefault(key, []).append(seconds)
    return times
