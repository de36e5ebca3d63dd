"""Running models in eval mode for a block without changing the caller's models for good."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put ``models`` in eval mode for the block, then restore each one's previous mode.

    A student fresh from training is in train mode; its BatchNorm layers would otherwise use
    batch statistics and change the masks.
    """
    before = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, training in zip(models, before, strict=True):
            m.train(training)
