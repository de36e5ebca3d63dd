"""Hooks the training loop calls, so progress bars, MLflow logging or checkpoints can follow a run
without the library knowing about them.

Subclass :class:`ClassifyCallback` and override the hooks you need; the others do nothing.
Hooks run in the training process, in the order the callbacks were given.
"""

from __future__ import annotations

from gms_models.classify.families import ClassifierFamily
from gms_models.classify.results import EpochMetrics, FamilyResult
from gms_models.profiling import ModelProfile


class ClassifyCallback:
    """Base class of training hooks; every hook is a no-op unless overridden."""

    def on_family_start(
        self, family: ClassifierFamily, profile: ModelProfile, epochs: int, steps_per_epoch: int
    ) -> None:
        """The family's model is built and profiled; training is about to start."""

    def on_step_end(self, family: ClassifierFamily, epoch: int, step: int, loss: float) -> None:
        """One optimiser step done (``epoch`` 1-based, ``step`` 1-based within the epoch)."""

    def on_epoch_end(self, family: ClassifierFamily, metrics: EpochMetrics) -> None:
        """One epoch trained and evaluated."""

    def on_family_end(self, result: FamilyResult) -> None:
        """The family finished all its epochs."""
