"""Learning-rate schedule: optional linear warm-up, then constant (the paper) or cosine decay.

Stepped once per optimiser step. Built on ``LambdaLR`` so that its state (the step count) goes
into the checkpoint with ``state_dict()``; the shape of the schedule is rebuilt from the config.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def lr_factor(
    *, warmup_steps: int, total_steps: int, schedule: str, min_ratio: float
) -> Callable[[int], float]:
    """Multiplier of the base lr after ``step`` optimiser steps."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        decay_steps = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(
    optimizer: Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    schedule: str,
    base_lr: float,
    min_lr: float,
) -> LambdaLR:
    """A ``LambdaLR`` for ``optimizer`` following :func:`lr_factor`."""
    return LambdaLR(
        optimizer,
        lr_factor(
            warmup_steps=warmup_steps,
            total_steps=total_steps,
            schedule=schedule,
            min_ratio=min_lr / base_lr,
        ),
    )
