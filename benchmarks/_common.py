"""What the benchmark scripts share: the reference files under ``../shared`` and the load
average each prints beside its figures (run a script as ``python benchmarks/NAME.py``, so that
this folder is on ``sys.path``)."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("GMS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
RANDOM_TEACHER = SHARED / "reference" / "mobile_sam" / "mobile_sam_random_seed0.pt"
COCO_MINI = SHARED / "data" / "coco-mini"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: ``"1.20, 0.90, 0.75"``."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())
