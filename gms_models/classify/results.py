"""Results (as JSON-ready dicts for Prefect tasks), the training hooks and a run's table files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gms_models.files import atomic_write_text, read_json, write_json
from gms_models.tables import (
    plot_val_accuracy,
    render_table1_csv,
    render_table1_markdown,
    table1_rows,
)

if TYPE_CHECKING:
    from gms_models.classify.families import ClassifierFamily
    from gms_models.profiling import ModelProfile


@dataclass(frozen=True)
class EpochMetrics:
    """Train figures are running means over augmented batches, val ones the MALSD test split's;
    ``lr`` at the end of the epoch."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float


@dataclass(frozen=True)
class FamilyResult:
    """``params`` counts the thop way (leaf modules' parameters), as the paper does."""

    family: str
    slug: str
    img_size: int
    params: int
    params_true: int
    macs: int
    history: tuple[EpochMetrics, ...] = field(default_factory=tuple)
    train_images: int = 0
    val_images: int = 0
    seconds: float = 0.0

    @property
    def final(self) -> EpochMetrics:
        if not self.history:
            raise ValueError(f"{self.slug} has no epochs")
        return self.history[-1]

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "history"}
        out["final"] = asdict(self.final)
        out["history"] = [asdict(m) for m in self.history]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FamilyResult:
        fields = {k: v for k, v in data.items() if k not in ("history", "final")}
        history = tuple(EpochMetrics(**m) for m in data["history"])
        return cls(**fields, history=history)


class ClassifyCallback:
    """Hooks of the training loop, no-ops by default; ``epoch`` and ``step`` are 1-based."""

    def on_family_start(
        self, family: ClassifierFamily, profile: ModelProfile, epochs: int, steps_per_epoch: int
    ) -> None: ...

    def on_step_end(self, family: ClassifierFamily, epoch: int, step: int, loss: float) -> None: ...

    def on_epoch_end(self, family: ClassifierFamily, metrics: EpochMetrics) -> None: ...

    def on_family_end(self, result: FamilyResult) -> None: ...


@dataclass(frozen=True)
class TableFiles:
    markdown: Path
    csv: Path
    chart: Path


def write_family_metrics(result: FamilyResult, out_dir: str | Path) -> Path:
    return write_json(Path(out_dir) / "metrics" / f"{result.slug}.json", result.as_dict())


def read_family_metrics(path: str | Path) -> FamilyResult:
    return FamilyResult.from_dict(read_json(path, what="family metrics file"))


def write_table_files(
    results: Sequence[FamilyResult], out_dir: str | Path, *, with_paper: bool
) -> TableFiles:
    out_dir = Path(out_dir)
    rows = table1_rows(results, with_paper)
    return TableFiles(
        markdown=atomic_write_text(out_dir / "table1.md", render_table1_markdown(rows)),
        csv=atomic_write_text(out_dir / "table1.csv", render_table1_csv(rows)),
        chart=plot_val_accuracy(results, out_dir / "table1_val_acc.png", with_paper=with_paper),
    )
