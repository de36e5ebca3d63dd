"""Hooks the training loop calls (progress bars, MLflow logging), in the order given."""

from __future__ import annotations

from gms_models.classify.families import ClassifierFamily
from gms_models.classify.results import EpochMetrics, FamilyResult
from gms_models.profiling import ModelProfile


class ClassifyCallback:
    """Training hooks; each is a no-op unless overridden."""

    def on_family_start(
        self, family: ClassifierFamily, profile: ModelProfile, epochs: int, steps_per_epoch: int
    ) -> None:
        """The model is built and profiled; training is about to start."""

    def on_step_end(self, family: ClassifierFamily, epoch: int, step: int, loss: float) -> None:
        """One optimiser step done (``epoch`` and ``step`` 1-based)."""

    def on_epoch_end(self, family: ClassifierFamily, metrics: EpochMetrics) -> None:
        """One epoch trained and evaluated."""

    def on_family_end(self, result: FamilyResult) -> None:
        """The family finished all its epochs."""
