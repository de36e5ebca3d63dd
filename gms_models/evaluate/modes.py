"""Running models in eval mode for a block, restoring their modes afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """``models`` in eval mode for the block (a student fresh from training would use batch
    statistics in its BatchNorm layers), then each back in its previous mode."""
    before = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, training in zip(models, before, strict=True):
            m.train(training)
