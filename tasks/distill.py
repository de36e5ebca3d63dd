"""Step: distil a group of arms over one teacher pass; each arm keeps its own work folder, keyed
by its own config, so it is found done whichever group or flow trained it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from gms_models.train import DistillConfig, DistillResult, EpochEnd, StepEvent, TrainerCallback
from gms_models.train.config import Arms, DistillSettings, arm_config
from tasks.caching import CodeVersion, read_outputs, step_dir, step_key, work_lock, write_outputs
from tasks.data import require_part
from tasks.devices import device_slot
from tasks.execution import run_logger
from tasks.results import DataInfo, DistillOutputs, RunRef, TeacherInfo
from tasks.store import pull, push
from tasks.teacher import teacher_cache_dir
from tasks.tracking import (
    MlflowEpochLogger,
    log_artifact,
    log_history,
    log_metrics,
    log_params,
    set_tags,
)

#: DistillConfig fields left out of the key: paths (content hashes stand in) and bookkeeping.
_UNKEYED = ("images", "teacher", "out_dir", "resume", "resume_with_changes", "cache_dir", "name")


def distill_configs(
    arms: Arms, train: DistillSettings, data: DataInfo, teacher: TeacherInfo, runs_dir: Path
) -> list[DistillConfig]:
    """The library config of each arm. ``resume_with_changes``: the work folder's key holds every
    trajectory setting and the data, so a pulled checkpoint differs only in another host's paths."""
    return [
        arm_config(
            name,
            arm,
            train,
            images=data.unlabeled,
            teacher=teacher.checkpoint,
            teacher_backend=teacher.backend,
            teacher_precision=teacher.precision,
            cache_dir=teacher_cache_dir(runs_dir),
            resume=True,
            resume_with_changes=True,
        )
        for name, arm in arms.items()
    ]


def encoder_depths(model: Any) -> list[int] | None:
    """Stage depths of a staged encoder (GMF, TinyViT), None for others (ResNet18)."""
    for owner in (getattr(model, "backbone", None), model):
        config = getattr(owner, "cfg", None) or getattr(owner, "config", None)
        depths = getattr(config, "depths", None)
        if depths:
            return [int(d) for d in depths]
    return None


class GroupProgress(TrainerCallback):
    """Counts the teacher passes (one per step), logs each epoch and pushes the student's work
    folder to the shared store, so that another worker can resume the arm."""

    def __init__(self, runs_dir: Path, work_dirs: Mapping[str, Path]) -> None:
        self.runs_dir = runs_dir
        self.work_dirs = dict(work_dirs)
        self.passes = 0

    def on_step(self, event: StepEvent) -> None:
        self.passes += 1

    def on_epoch_end(self, event: EpochEnd) -> None:
        m = event.metrics
        run_logger().info(
            f"{event.student} epoch {event.epoch}: loss {m['loss']:.6f}, "
            f"{m['images_per_s']:.1f} images/s, {m['epoch_time_s']:.1f} s"
        )
        push(self.runs_dir, self.work_dirs[event.student])


class GroupOutputs(BaseModel):
    label: str
    arms: list[str]
    device: str
    trained: list[str] = Field(description="arms trained in this run (the others were cached)")
    teacher_passes: int = Field(description="teacher forward passes (data-stream steps) run")
    outputs: dict[str, DistillOutputs] = Field(default_factory=dict)
    failures: dict[str, str] = Field(default_factory=dict)


def _profile(
    config: DistillConfig, result: DistillResult, run: RunRef | None, size: int
) -> DistillOutputs:
    from gms_models.profiling import profile_model
    from gms_models.registry import build_encoder

    encoder = build_encoder(config.arch, img_size=size)
    profile = profile_model(encoder, size)
    return DistillOutputs(
        arm=config.run_name,
        arch=config.arch,
        work_dir=config.resolved_out_dir,
        checkpoint=result.checkpoint,
        feature_pictures=list(result.feature_pictures),
        loss_history=list(result.loss_history),
        last_loss=result.last_loss,
        epochs_completed=result.epochs_completed,
        images_seen=result.images_seen,
        wall_time_s=result.wall_time_s,
        config=config.model_dump(mode="json"),
        depths=encoder_depths(encoder),
        params_m=profile.params_thop / 1e6,
        params_true_m=profile.params_true / 1e6,
        macs_g=profile.macs / 1e9,
        profile_img_size=size,
        logged_run_id=run.run_id if run is not None else None,
    )


def log_distill_outputs(run: RunRef, outputs: DistillOutputs) -> None:
    """Params and final metrics of the arm; epochs logged to another run (a reused work folder)
    are copied into this one."""
    depths = outputs.depths if outputs.depths is not None else "-"
    log_params(run, {**outputs.config, "depths": depths})
    if outputs.logged_run_id != run.run_id:
        log_history(run, "loss", outputs.loss_history)
        for picture in outputs.feature_pictures:
            log_artifact(run, picture, "features")
        set_tags(run, {"gms.reused_from": str(outputs.work_dir)})
    log_metrics(
        run,
        {
            "last_loss": outputs.last_loss,
            "params_m": outputs.params_m,
            "params_true_m": outputs.params_true_m,
            "macs_g": outputs.macs_g,
            "train_time_s": outputs.wall_time_s,
            "epochs_completed": outputs.epochs_completed,
        },
    )
    log_artifact(run, outputs.checkpoint, "checkpoint")


@task(name="distill-group", task_run_name="distill-{label}", cache_policy=NO_CACHE)
def distill_group_task(
    label: str,
    configs: Sequence[DistillConfig],
    data: DataInfo,
    teacher: TeacherInfo,
    runs_dir: Path,
    code: CodeVersion,
    runs: Mapping[str, RunRef] | None = None,
    profile_img_size: int = 1024,
    device: str = "auto",
) -> GroupOutputs:
    """Train the group's arms over one data stream, reusing finished ones; a non-finite student
    goes to ``failures``, an error of the whole group fails the task."""
    logger = run_logger()
    require_part(data, "unlabeled")
    runs = runs or {}
    names = [config.run_name for config in configs]
    group = GroupOutputs(label=label, arms=names, device=device, trained=[], teacher_passes=0)
    work_dirs = {}
    for config in configs:
        payload = {
            "config": config.model_dump(mode="json", exclude=set(_UNKEYED)),
            "images": data.fingerprints.get("unlabeled"),
            "teacher": teacher.sha256,
            "profile_img_size": profile_img_size,
        }
        key = step_key("distill", payload, code)
        work_dirs[config.run_name] = step_dir(runs_dir, "distill", config.run_name, key)
    with ExitStack() as locks:
        # every run takes the locks in one order, so two groups sharing arms cannot deadlock
        for work_dir in sorted(work_dirs.values()):
            locks.enter_context(work_lock(work_dir))
        missing: list[DistillConfig] = []
        for config in configs:
            work_dir = work_dirs[config.run_name]
            pull(runs_dir, work_dir)  # another worker's finished or half-trained arm
            outputs = read_outputs(work_dir, DistillOutputs)
            if outputs is not None:
                logger.info(
                    "%s: reusing the finished distillation in %s", config.run_name, work_dir
                )
                group.outputs[config.run_name] = outputs
            else:
                missing.append(config.model_copy(update={"out_dir": work_dir}))
        if missing:
            _train_missing(group, missing, runs, runs_dir, profile_img_size, device)
    return group


def _train_missing(
    group: GroupOutputs,
    missing: list[DistillConfig],
    runs: Mapping[str, RunRef],
    runs_dir: Path,
    profile_img_size: int,
    device: str,
) -> None:
    from gms_models.train import distill

    logger = run_logger()
    counter = GroupProgress(runs_dir, {c.run_name: c.resolved_out_dir for c in missing})
    callbacks: list[TrainerCallback] = [counter]
    callbacks += [
        MlflowEpochLogger(runs[c.run_name], c.run_name) for c in missing if c.run_name in runs
    ]
    with device_slot(device) as slot:
        missing = [c.model_copy(update={"device": slot}) for c in missing]
        logger.info(
            "group %s: distilling %s together on %s",
            group.label,
            ", ".join(f"{c.run_name} ({c.arch})" for c in missing),
            slot,
        )
        results = distill(missing, callbacks=callbacks, progress=False)
        group.trained = [c.run_name for c in missing]
        group.teacher_passes = counter.passes
        for config, result in zip(missing, results, strict=True):
            if result.failure is not None:
                logger.warning(
                    "%s failed in group %s: %s", config.run_name, group.label, result.failure
                )
                group.failures[config.run_name] = result.failure
                continue
            outputs = _profile(config, result, runs.get(config.run_name), profile_img_size)
            write_outputs(config.resolved_out_dir, outputs)
            push(runs_dir, config.resolved_out_dir)
            group.outputs[config.run_name] = outputs


@task(name="distilled-arm", task_run_name="distill-{arm}", cache_policy=NO_CACHE)
def distilled_arm(group: GroupOutputs, arm: str, run: RunRef | None = None) -> DistillOutputs:
    """``arm``'s result out of its group's (its failure raised), logged to ``run``."""
    if arm in group.failures:
        raise RuntimeError(group.failures[arm])
    outputs = group.outputs[arm]
    if run is not None:
        log_distill_outputs(run, outputs)
    return outputs
