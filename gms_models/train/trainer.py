"""The distillation loop (the nanosam recipe): students regress the teacher encoder's features.
Resume is exact: crops depend only on ``(seed, epoch, index)``, every RNG state is checkpointed."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader

from gms_models.checkpoint import STATE_FILE
from gms_models.data.image_folder import DistillSample
from gms_models.data.loader import worker_context
from gms_models.data.scan import BadImage
from gms_models.errors import ConfigError
from gms_models.files import default_cache_dir
from gms_models.teacher import FeatureCache, TeacherBackend, TeacherSpec, recipe_digest
from gms_models.teacher.base import resolve_device
from gms_models.teacher.select import select_teacher
from gms_models.train.callbacks import EpochEnd, RichProgress, StepEvent, TrainerCallback, TrainPlan
from gms_models.train.config import DistillConfig
from gms_models.train.grouping import check_group
from gms_models.train.rng import global_rng_state, restore_global_rng_state, seed_everything
from gms_models.train.student import NonFiniteLossError, Probe, StudentRun

log = logging.getLogger(__name__)


class DistillDataset(Protocol):
    """Items ``DistillSample(teacher, student, index)``; ``paths`` too for a feature cache."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...

    def set_epoch(self, epoch: int) -> None: ...


@dataclass
class DistillResult:
    """``checkpoint`` is ``student.pt``, ``state_checkpoint`` ``last.pt``; ``last_loss`` is NaN if
    no epoch finished; ``wall_time_s`` counts this process only and is shared by a group."""

    name: str
    arch: str
    out_dir: Path
    checkpoint: Path
    state_checkpoint: Path
    epochs_completed: int
    last_loss: float
    loss_history: list[float]
    feature_pictures: list[Path]
    images_seen: int
    skipped_images: list[BadImage] = field(default_factory=list)
    wall_time_s: float = 0.0
    failure: str | None = None


class Distiller:
    """Per batch one teacher pass, one step per student. Resumed students may stand at different
    epochs: the stream starts after the lowest, each joins at its own next epoch."""

    def __init__(
        self,
        *,
        recipe: DistillConfig,
        teacher: TeacherBackend,
        students: Sequence[StudentRun],
        dataset: DistillDataset,
        callbacks: Sequence[TrainerCallback] = (),
        log_every: int = 20,
        feature_cache: FeatureCache | None = None,
    ) -> None:
        if log_every < 1:
            raise ConfigError(f"log_every must be >= 1, got {log_every}")
        self.recipe = recipe
        self.teacher = teacher
        self.students = list(students)
        self.dataset = dataset
        self.callbacks = list(callbacks)
        self.log_every = log_every
        self.feature_cache = feature_cache
        self.device = students[0].device
        self.generator = torch.Generator().manual_seed(recipe.seed)
        self.loader: DataLoader[DistillSample] = DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=recipe.batch_size,
            shuffle=True,
            generator=self.generator,
            num_workers=recipe.num_workers,
            multiprocessing_context=worker_context(recipe.num_workers),
            pin_memory=self.device.type == "cuda",
        )

    def fit(self, *, raise_if_all_failed: bool) -> list[DistillResult]:
        started = time.perf_counter()
        pending = self._pending()
        first_epoch = min(s.epochs_done for s in pending) + 1 if pending else self.recipe.epochs + 1
        probe = self._probe()
        plan = TrainPlan(
            students=tuple(s.name for s in self.students),
            first_epoch=first_epoch,
            epochs=self.recipe.epochs,
            steps_per_epoch=len(self.loader),
            num_images=len(self.dataset),
            batch_size=self.recipe.batch_size,
            device=str(self.device),
            teacher=self.teacher.identity,
            archs=tuple(s.arch for s in self.students),
            epochs_done=tuple(s.epochs_done for s in self.students),
            failed=tuple(s.name for s in self.students if s.failure is not None),
        )
        self._emit("on_train_start", plan)
        try:
            stream_epoch = None  # the epoch whose end the loader's state stands at
            while pending := self._pending():
                level = min(s.epochs_done for s in pending)
                if stream_epoch != level:
                    self._position_stream(level, pending)
                active = [s for s in pending if s.epochs_done == level]
                finished = self._run_epoch(level + 1, active, probe)
                # an epoch cut short (all its students failed) leaves the loader mid-way
                stream_epoch = level + 1 if finished else None
            if raise_if_all_failed and all(s.failure is not None for s in self.students):
                raise self.students[-1].failure  # type: ignore[misc]
        except BaseException as exc:
            self._emit("on_error", exc)
            raise
        results = [self._result(s, time.perf_counter() - started) for s in self.students]
        self._emit("on_train_end", results)
        return results

    def _pending(self) -> list[StudentRun]:
        return [
            s for s in self.students if s.failure is None and s.epochs_done < self.recipe.epochs
        ]

    def _position_stream(self, epoch: int, pending: list[StudentRun]) -> None:
        if epoch == 0:
            self.generator.manual_seed(self.recipe.seed)
            return
        state = next(s.stream_rng for s in pending if s.epochs_done == epoch)
        if state is None:
            raise ConfigError(f"no saved data-stream state for epoch {epoch} to resume from")
        restore_global_rng_state(state["global"])
        self.generator.set_state(state["loader"])

    def _emit(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def _probe(self) -> Probe:
        """Item 0 of epoch 0: the feature pictures' image; also checks the feature shapes."""
        self.dataset.set_epoch(0)
        sample = self.dataset[0]
        probe_teacher = self.teacher(sample.teacher[None])
        probe = sample.student[None]
        for student in self.students:
            if probe.shape[-1] != student.img_size:
                raise ConfigError(
                    f"the data stream gives {probe.shape[-1]}-pixel student inputs but student "
                    f"{student.name!r} has img_size {student.img_size}"
                )
            shape = tuple(student.features(probe).shape[1:])
            if shape != tuple(probe_teacher.shape[1:]):
                raise ConfigError(
                    f"student {student.name!r} at img_size {student.img_size} gives features "
                    f"{shape} but the teacher at teacher_size {sample.teacher.shape[-1]} gives "
                    f"{tuple(probe_teacher.shape[1:])}; choose img_size and teacher_size so "
                    "that they match"
                )
        # the pictures show the teacher channels of the largest spatial standard deviation
        spread = probe_teacher[0].float().flatten(1).std(dim=1)
        count = min(self.students[0].config.feature_channels, spread.numel())
        channels = sorted(int(i) for i in torch.topk(spread, count).indices)
        return probe, probe_teacher, channels

    def _targets(self, batch: Any) -> torch.Tensor:
        if self.feature_cache is None:
            return self.teacher(batch.teacher)
        indices = batch.index.tolist()
        paths = [str(self.dataset.paths[i]) for i in indices]  # type: ignore[attr-defined]
        cached = self.feature_cache.load_batch(indices, paths, self.device)
        if cached is not None:
            return cached
        features = self.teacher(batch.teacher)
        self.feature_cache.store_batch(indices, paths, features)
        return features

    def _run_epoch(self, epoch: int, active: list[StudentRun], probe: Probe) -> bool:
        """Train ``active`` over 1-based ``epoch``; False when all of them failed in it."""
        self.dataset.set_epoch(epoch - 1)
        steps = len(self.loader)
        for student in active:
            student.begin_epoch(steps)
        self._emit("on_epoch_start", epoch, steps)
        started = time.perf_counter()
        images = 0
        for step, batch in enumerate(self.loader, start=1):
            targets = self._targets(batch)
            student_images = batch.student.to(self.device, non_blocking=True)
            for student in active:
                student.train_step(student_images, targets, step - 1)
            images += len(batch.index)
            losses = None
            if step % self.log_every == 0 or step == steps:
                losses = self._report(active, step, epoch)
                if not active:
                    return False
            global_step = (epoch - 1) * steps + step
            event = StepEvent(epoch, step, steps, global_step, len(batch.index), losses)
            self._emit("on_step", event)
        epoch_time = time.perf_counter() - started
        stream_rng = {"global": global_rng_state(), "loader": self.generator.get_state()}
        for student in active:
            metrics, artifacts = student.end_epoch(
                epoch, images=images, epoch_time=epoch_time, stream_rng=stream_rng, probe=probe
            )
            self._emit("on_epoch_end", EpochEnd(student.name, epoch, metrics, artifacts))
        return True

    def _report(self, active: list[StudentRun], upto: int, epoch: int) -> dict[str, float]:
        losses: dict[str, float] = {}
        for student in list(active):
            try:
                losses[student.name] = student.report(upto, epoch)
            except NonFiniteLossError as error:
                log.error("%s", error)
                active.remove(student)
                self._emit("on_student_failed", student.name, error)
        return losses

    def _result(self, student: StudentRun, wall_time: float) -> DistillResult:
        return DistillResult(
            name=student.name,
            arch=student.arch,
            out_dir=student.out_dir,
            checkpoint=student.student_path,
            state_checkpoint=student.state_path,
            epochs_completed=student.epochs_done,
            last_loss=student.loss_history[-1] if student.loss_history else math.nan,
            loss_history=list(student.loss_history),
            feature_pictures=list(student.feature_pictures),
            images_seen=student.images_seen,
            skipped_images=list(getattr(self.dataset, "skipped", [])),
            wall_time_s=wall_time,
            failure=str(student.failure) if student.failure is not None else None,
        )


def build_teacher(config: DistillConfig, device: torch.device) -> TeacherBackend:
    spec = TeacherSpec.from_checkpoint(config.teacher, config.teacher_size)
    return select_teacher(
        config.teacher_backend,
        spec=spec,
        device=device,
        precision=config.teacher_precision,
        cache_dir=config.cache_dir,
        max_batch=config.batch_size,
        channels_last=config.channels_last_on(device.type),
    )


def build_feature_cache(
    config: DistillConfig, teacher: TeacherBackend, dataset: DistillDataset
) -> FeatureCache | None:
    if not config.feature_cache:
        return None
    recipe = {
        "images": str(Path(config.images).resolve()),
        "seed": config.seed,
        "teacher_size": config.teacher_size,
        "fixed_crops": config.fixed_crops,
        "crop_scale": getattr(dataset, "crop_scale", None),
        "crop_ratio": getattr(dataset, "crop_ratio", None),
    }
    root = (config.cache_dir or default_cache_dir()) / "features"
    return FeatureCache(root, teacher.identity, recipe_digest(recipe))


def distill(
    configs: Sequence[DistillConfig],
    *,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    log_every: int = 20,
    device: str | None = None,
    teacher: TeacherBackend | None = None,
    dataset: DistillDataset | None = None,
    raise_if_all_failed: bool = False,
) -> list[DistillResult]:
    """One result per config (one data recipe). A student whose loss goes non-finite is dropped,
    the others go on; when all failed, the last one's error is raised if ``raise_if_all_failed``."""
    if device is not None:
        configs = [c.model_copy(update={"device": device}) for c in configs]
    check_group(configs)
    for config in configs:
        if (config.resolved_out_dir / STATE_FILE).exists() and not config.resume:
            raise ConfigError(
                f"{config.resolved_out_dir} already holds a training checkpoint ({STATE_FILE}); "
                "pass resume=True (--resume) to continue it, or choose another out_dir (--out)"
            )
    recipe = configs[0]
    torch_device = resolve_device(recipe.device)
    if any(config.deterministic for config in configs):
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    seed_everything(recipe.seed)
    if dataset is None:  # workers cannot report skipped images: with them, decode up front
        from gms_models.data.image_folder import ImageFolderDataset

        dataset = ImageFolderDataset(
            recipe.images,
            teacher_size=recipe.teacher_size,
            student_size=recipe.img_size,
            seed=recipe.seed,
            fixed_crops=recipe.fixed_crops,
            on_error=recipe.on_error,
            validate=recipe.on_error == "skip" and recipe.num_workers > 0,
        )
    own_teacher = teacher is None
    teacher = teacher if teacher is not None else build_teacher(recipe, torch_device)
    try:
        steps_per_epoch = math.ceil(len(dataset) / recipe.batch_size)
        students = []
        for config in configs:
            student = StudentRun(config, device=torch_device, steps_per_epoch=steps_per_epoch)
            student.restore()
            students.append(student)
        distiller = Distiller(
            recipe=recipe,
            teacher=teacher,
            students=students,
            dataset=dataset,
            callbacks=[*([RichProgress()] if progress else []), *callbacks],
            log_every=log_every,
            feature_cache=build_feature_cache(recipe, teacher, dataset),
        )
        return distiller.fit(raise_if_all_failed=raise_if_all_failed)
    finally:
        if own_teacher:
            teacher.close()
