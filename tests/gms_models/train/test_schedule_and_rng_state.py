"""Learning-rate schedule shapes, and RNG states that survive a weights_only checkpoint."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from gms_models.train.rng import (
    TorchRngStream,
    global_rng_state,
    restore_global_rng_state,
    seed_everything,
)
from gms_models.train.student import build_scheduler, lr_factor


def test_constant_schedule_with_linear_warmup() -> None:
    factor = lr_factor(warmup_steps=4, total_steps=100, schedule="constant", min_ratio=0.0)
    assert [factor(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert factor(99) == 1.0


def test_cosine_schedule_decays_from_lr_to_min_lr_after_warmup() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1e-3)
    scheduler = build_scheduler(
        optimizer, warmup_steps=2, total_steps=12, schedule="cosine", base_lr=1e-3, min_lr=1e-4
    )
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:3] == pytest.approx([5e-4, 1e-3, 1e-3])
    assert lrs[7] == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert all(a >= b for a, b in itertools.pairwise(lrs[2:]))
    assert lrs[-1] == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.9)))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)  # after the last step


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_global_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path: Path) -> None:
    seed_everything(11)
    _draws()
    np.random.randn()  # leave numpy with a cached gaussian
    path = tmp_path / "rng.pt"
    torch.save(global_rng_state(), path)
    expected = _draws()
    seed_everything(99)
    restore_global_rng_state(torch.load(path, weights_only=True))
    assert _draws() == expected


def test_private_torch_stream_is_independent_of_draws_outside_it() -> None:
    torch.manual_seed(5)
    stream = TorchRngStream()
    alone = [float(torch.rand(())) for _ in range(3)]

    torch.manual_seed(5)
    stream = TorchRngStream()
    inside = []
    for _ in range(3):
        torch.rand(7)  # someone else drawing from the global generator
        with stream:
            inside.append(float(torch.rand(())))
    assert inside == alone
    outer_before = torch.get_rng_state()
    with stream:
        torch.rand(3)
    assert torch.equal(torch.get_rng_state(), outer_before)
