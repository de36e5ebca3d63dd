"""What a classification run reports: per-epoch metrics and one result per family.

Both are plain dataclasses that round-trip through JSON-ready dicts (``as_dict`` /
``from_dict``), so a Prefect task can return a family's result as a small dict and a later step
can rebuild the table from those dicts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics of one epoch. Train figures are running means over the epoch's augmented batches
    in training mode; val figures come from the MALSD test split in eval mode."""

    epoch: int
    """1-based."""
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    """Learning rate at the end of the epoch."""
    seconds: float
    """Wall time of the epoch, training and evaluation."""

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class FamilyResult:
    """The outcome of training one family: its counts and its metric history."""

    family: str
    """Table 1 name."""
    slug: str
    img_size: int
    params: int
    """thop-convention parameter count (parameters of leaf modules), as the paper counts."""
    params_true: int
    """Every ``nn.Parameter`` (adds positional embeddings, class tokens, ...)."""
    macs: int
    """thop-convention MACs of one (1,3,S,S) forward."""
    history: tuple[EpochMetrics, ...] = field(default_factory=tuple)
    train_images: int = 0
    val_images: int = 0
    seconds: float = 0.0

    @property
    def final(self) -> EpochMetrics:
        """The last epoch's metrics: the figures Table 1 reports."""
        if not self.history:
            raise ValueError(f"{self.slug} has no epochs")
        return self.history[-1]

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "history"}
        out["final"] = self.final.as_dict()
        out["history"] = [m.as_dict() for m in self.history]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FamilyResult:
        fields = {k: v for k, v in data.items() if k not in ("history", "final")}
        history = tuple(EpochMetrics(**m) for m in data["history"])
        return cls(**fields, history=history)
