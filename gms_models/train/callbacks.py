"""How the trainer reports progress: a callback interface (the orchestration layer subclasses it;
callbacks run between steps, so they should be quick), and a rich progress bar built on it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from gms_models.train.student import NonFiniteLossError
    from gms_models.train.trainer import DistillResult


@dataclass(frozen=True)
class TrainPlan:
    """What is about to run (given to :meth:`TrainerCallback.on_train_start`)."""

    students: tuple[str, ...]
    first_epoch: int
    """1-based number of the first epoch to run (> 1 after a resume; with students resumed at
    different epochs, the epoch after the lowest)."""
    epochs: int
    steps_per_epoch: int
    num_images: int
    batch_size: int
    device: str
    teacher: str
    """Teacher identity (weights, size, backend, precision)."""
    archs: tuple[str, ...]
    """Encoder registry name of each student (parallel to ``students``)."""
    epochs_done: tuple[int, ...]
    """Epochs each student had finished before this run (parallel to ``students``)."""
    failed: tuple[str, ...] = ()
    """Students whose failure an earlier run recorded: they are not trained again."""


@dataclass(frozen=True)
class StepEvent:
    """One optimisation step of the data stream (every student took its step)."""

    epoch: int
    """1-based, as ``step`` within the epoch."""
    step: int
    steps_in_epoch: int
    global_step: int
    images: int
    """Images in this step's batch."""
    losses: Mapping[str, float] | None
    """Per student, the mean loss over the steps since the last report; None between reports."""


@dataclass(frozen=True)
class EpochEnd:
    """One student finished an epoch; its checkpoint is on disk."""

    student: str
    epoch: int
    metrics: Mapping[str, float]
    """``loss`` (mean Huber loss of the epoch), ``lr``, ``epoch_time_s``, ``images_per_s``,
    ``images_seen``."""
    artifacts: Mapping[str, Path]
    """``checkpoint`` (``last.pt``), ``student`` (``student.pt``), ``features`` (the
    teacher-vs-student picture)."""


class TrainerCallback:
    """Hooks called by the trainer; every method is optional (the defaults do nothing). Per-student
    hooks name the student by its run name, unique within a stream."""

    def on_train_start(self, plan: TrainPlan) -> None:
        """Before the first epoch of this process (after a resume, too)."""

    def on_epoch_start(self, epoch: int, steps: int) -> None:
        """Before the first step of 1-based ``epoch``."""

    def on_step(self, event: StepEvent) -> None:
        """After every step."""

    def on_epoch_end(self, event: EpochEnd) -> None:
        """After a student finished an epoch."""

    def on_student_failed(self, student: str, error: NonFiniteLossError) -> None:
        """``student`` stopped (non-finite loss); its last good checkpoint is kept and the
        other students sharing the stream go on."""

    def on_train_end(self, results: Sequence[DistillResult]) -> None:
        """After the last epoch (not called when the run stops on an error)."""

    def on_error(self, error: BaseException) -> None:
        """The run stops on ``error`` (which is raised after the callbacks return)."""


class _ProgressWithTable(Progress):
    """A rich ``Progress`` that renders a table of the students below its bars."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        # set first: the base class renders once while it initialises
        self.table: Table | None = None
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.table is not None:
            yield self.table


class RichProgress(TrainerCallback):
    """A progress bar per epoch on stderr, a table of each student's latest loss, last epoch's loss
    and state below it, and one log line per epoch and student. Per-step updates are cheap: rich
    redraws at most 4 times a second from its own thread.
    """

    def __init__(self) -> None:
        self.console = Console(stderr=True, log_path=False)
        self.progress = _ProgressWithTable(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            refresh_per_second=4,
        )
        self._task: TaskID | None = None
        self._epochs = 0
        self._rows: dict[str, dict[str, str]] = {}

    def on_train_start(self, plan: TrainPlan) -> None:
        self._epochs = plan.epochs
        self.console.log(
            f"distilling {', '.join(plan.students)} from {escape(str(plan.teacher))} on "
            f"{plan.device}: "
            f"{plan.num_images} images, batch {plan.batch_size}, "
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
                behind = int(row["epoch"]) == epoch - 1
                row["state"] = "training" if behind else "waiting"
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
        self.close()

    def on_error(self, error: BaseException) -> None:
        self.close()

    def close(self) -> None:
        self.progress.stop()

    def _redraw_table(self) -> None:
        table = Table(box=None, pad_edge=False)
        for column in ("student", "arch", "epochs done", "loss", "epoch loss", "state"):
            table.add_column(column, justify="right" if "loss" in column else "left")
        for name, row in self._rows.items():  # each row's keys are in the columns' order
            style = "red" if row["state"].startswith("failed") else None
            table.add_row(name, *row.values(), style=style)
        self.progress.table = table
