"""Per-epoch metrics and per-family results, round-tripping through JSON-ready dicts (a Prefect task
returns a family's result as a dict; a later step rebuilds the table from them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics of one (1-based) epoch: train figures are running means over its augmented
    batches, val figures come from the MALSD test split in eval mode."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    """At the end of the epoch."""
    seconds: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class FamilyResult:
    """The outcome of training one family: its counts and its metric history."""

    family: str
    slug: str
    img_size: int
    params: int
    """thop-convention parameter count (parameters of leaf modules), as the paper counts."""
    params_true: int
    macs: int
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
