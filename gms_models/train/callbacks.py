"""The trainer's callbacks (they run between steps: keep them quick) and a rich progress display."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from gms_models.progress import bar_columns

if TYPE_CHECKING:
    from gms_models.train.student import NonFiniteLossError
    from gms_models.train.trainer import DistillResult


@dataclass(frozen=True)
class TrainPlan:
    """What is about to run; ``first_epoch`` is 1-based (after the lowest resumed student's), the
    tuples are parallel to ``students``, ``failed`` ones failed earlier and are not trained."""

    students: tuple[str, ...]
    first_epoch: int
    epochs: int
    steps_per_epoch: int
    num_images: int
    batch_size: int
    device: str
    teacher: str
    archs: tuple[str, ...]
    epochs_done: tuple[int, ...]
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepEvent:
    """1-based; ``losses``: each student's mean since the last report, None between reports."""

    epoch: int
    step: int
    steps_in_epoch: int
    global_step: int
    images: int
    losses: Mapping[str, float] | None


@dataclass(frozen=True)
class EpochEnd:
    """One student finished an epoch; its checkpoint is on disk."""

    student: str
    epoch: int
    metrics: Mapping[str, float]
    artifacts: Mapping[str, Path]


class TrainerCallback:
    """Hooks called by the trainer, no-ops by default; students are named by their run name."""

    def on_train_start(self, plan: TrainPlan) -> None: ...

    def on_epoch_start(self, epoch: int, steps: int) -> None: ...

    def on_step(self, event: StepEvent) -> None: ...

    def on_epoch_end(self, event: EpochEnd) -> None: ...

    def on_student_failed(self, student: str, error: NonFiniteLossError) -> None:
        """The others sharing the stream go on; its last good checkpoint is kept."""

    def on_train_end(self, results: Sequence[DistillResult]) -> None:
        """Not called when the run stops on an error."""

    def on_error(self, error: BaseException) -> None:
        """``error`` is raised after the callbacks return."""


class _ProgressWithTable(Progress):
    def __init__(self, *args: object, **kwargs: object) -> None:
        # set first: the base class renders while it initialises
        self.table: Table | None = None
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.table is not None:
            yield self.table


class RichProgress(TrainerCallback):
    """A bar per epoch on stderr, a table of the students below it, a log line per epoch and
    student. Per-step updates are cheap: rich redraws at most 4 times a second."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, log_path=False)
        self.progress = _ProgressWithTable(
            *bar_columns(), console=self.console, refresh_per_second=4
        )
        self._task: TaskID | None = None
        self._epochs = 0
        self._rows: dict[str, dict[str, str]] = {}

    def on_train_start(self, plan: TrainPlan) -> None:
        self._epochs = plan.epochs
        self.console.log(
            f"distilling {', '.join(plan.students)} from {escape(str(plan.teacher))} on "
            f"{plan.device}: {plan.num_images} images, batch {plan.batch_size}, "
            f"epochs {plan.first_epoch}..{plan.epochs}"
        )
        self._rows = {
            name: {
                "arch": arch,
                "epoch": str(epochs_done),
                "loss": "",
                "epoch loss": "",
                "state": "failed earlier" if name in plan.failed else "",
            }
            for name, arch, epochs_done in zip(
                plan.students, plan.archs, plan.epochs_done, strict=True
            )
        }
        self._redraw_table()
        self.progress.start()

    def on_epoch_start(self, epoch: int, steps: int) -> None:
        if self._task is not None:
            self.progress.remove_task(self._task)
        self._task = self.progress.add_task(f"epoch {epoch}/{self._epochs}", total=steps)
        for row in self._rows.values():
            if not row["state"].startswith("failed"):
                row["state"] = "training" if int(row["epoch"]) == epoch - 1 else "waiting"
        self._redraw_table()

    def on_step(self, event: StepEvent) -> None:
        if self._task is None:
            return
        if event.losses is not None:
            for name, loss in event.losses.items():
                self._rows[name]["loss"] = f"{loss:.5f}"
            self._redraw_table()
        self.progress.advance(self._task)

    def on_epoch_end(self, event: EpochEnd) -> None:
        row = self._rows[event.student]
        row["epoch"] = str(event.epoch)
        row["epoch loss"] = f"{event.metrics['loss']:.6f}"
        if event.epoch == self._epochs:
            row["state"] = "done"
        self._redraw_table()
        metrics = event.metrics
        self.console.log(
            f"epoch {event.epoch}/{self._epochs} {event.student}: loss {metrics['loss']:.6f}, "
            f"lr {metrics['lr']:.3g}, {metrics['images_per_s']:.1f} img/s, "
            f"{metrics['epoch_time_s']:.1f} s"
        )

    def on_student_failed(self, student: str, error: NonFiniteLossError) -> None:
        self._rows[student]["state"] = f"failed (epoch {error.epoch}, step {error.step})"
        self._redraw_table()
        self.console.log(f"[red]{student} stopped:[/] {escape(str(error))}")

    def on_train_end(self, results: Sequence[DistillResult]) -> None:
        self.progress.stop()

    def on_error(self, error: BaseException) -> None:
        self.progress.stop()

    def _redraw_table(self) -> None:
        table = Table(box=None, pad_edge=False)
        for column in ("student", "arch", "epochs done", "loss", "epoch loss", "state"):
            table.add_column(column, justify="right" if "loss" in column else "left")
        for name, row in self._rows.items():  # each row's keys are in the columns' order
            style = "red" if row["state"].startswith("failed") else None
            table.add_row(name, *row.values(), style=style)
        self.progress.table = table
