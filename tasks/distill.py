"""Step: distil one arm (one student) from the teacher, log it to its MLflow run, profile it.

The work folder is keyed (see :mod:`tasks.caching`), and training always runs with ``resume``:
a finished folder is reused as it is, an interrupted one continues from its last epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gms_models.train import DistillConfig, TrainerCallback
from tasks.caching import CodeVersion, read_outputs, step_dir, step_key, write_outputs
from tasks.data import require_part
from tasks.devices import device_slot
from tasks.results import DataInfo, DistillOutputs, RunRef, TeacherInfo
from tasks.specs import ArmSpec, TrainSpec
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
_UNKEYED = ("images", "teacher", "out_dir", "resume", "cache_dir")


def distill_config(
    arm: ArmSpec, train: TrainSpec, data: DataInfo, teacher: TeacherInfo, runs_dir: Path
) -> DistillConfig:
    """The library config of ``arm`` (its folder not set yet)."""
    return DistillConfig.from_mapping(
        {
            **train.options,
            "arch": arm.arch,
            "lr": arm.lr,
            "epochs": arm.epochs,
            "img_size": train.img_size,
            "teacher_size": train.teacher_size,
            "batch_size": train.batch_size,
            "seed": train.seed,
            "device": train.device,
            "num_workers": train.num_workers,
            "images": data.unlabeled,
            "teacher": teacher.checkpoint,
            "teacher_backend": teacher.backend,
            "teacher_precision": teacher.precision,
            "cache_dir": teacher_cache_dir(runs_dir),
            "resume": True,
        },
        source=f"arm {arm.name}",
    )


def distill_key(
    config: DistillConfig,
    data: DataInfo,
    teacher: TeacherInfo,
    code: CodeVersion,
    profile_img_size: int,
) -> str:
    payload = {
        "config": config.model_dump(mode="json", exclude=set(_UNKEYED)),
        "images": data.fingerprints.get("unlabeled"),
        "teacher": teacher.sha256,
        "profile_img_size": profile_img_size,
    }
    return step_key("distill", payload, code)


def encoder_depths(model: Any) -> list[int] | None:
    """Stage depths of a staged encoder (GMF, TinyViT), None for others (ResNet18)."""
    for owner in (getattr(model, "backbone", None), model):
        config = getattr(owner, "cfg", None) or getattr(owner, "config", None)
        depths = getattr(config, "depths", None)
        if depths:
            return [int(d) for d in depths]
    return None


class PrefectEpochLog(TrainerCallback):
    """One line per epoch in the Prefect task run's log."""

    def on_epoch_end(
        self,
        epoch: int,
        metrics: Mapping[str, float],
        artifacts: Mapping[str, Path],
        *,
        student: str,
    ) -> None:
        get_run_logger().info(
            "%s epoch %d: loss %.6f, %.1f images/s, %.1f s",
            student,
            epoch,
            metrics["loss"],
            metrics["images_per_s"],
            metrics["epoch_time_s"],
        )


def _train_and_profile(
    config: DistillConfig, arm: ArmSpec, run: RunRef | None, profile_img_size: int
) -> DistillOutputs:
    from gms_models.profiling import profile_model
    from gms_models.registry import build_encoder
    from gms_models.train import distill

    callbacks: list[TrainerCallback] = [PrefectEpochLog()]
    if run is not None:
        callbacks.append(MlflowEpochLogger(run, config.arch))
    result = distill(config, callbacks=callbacks, progress=False)
    if result.failure is not None:
        raise RuntimeError(result.failure)
    encoder = build_encoder(config.arch, img_size=profile_img_size)
    profile = profile_model(encoder, profile_img_size)
    return DistillOutputs(
        arm=arm.name,
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
        profile_img_size=profile_img_size,
        logged_run_id=run.run_id if run is not None else None,
    )


def log_distill_outputs(run: RunRef, outputs: DistillOutputs, teacher: TeacherInfo) -> None:
    """Params and final metrics of the arm; when the epochs were logged to another run (a
    reused work folder), their history and pictures are copied into this one."""
    log_params(
        run,
        {
            **outputs.config,
            "arm": outputs.arm,
            "depths": outputs.depths if outputs.depths is not None else "-",
            "teacher_source": teacher.source,
            "teacher_random": teacher.random,
            "teacher_sha256": teacher.sha256,
        },
    )
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


@task(name="distill-arm", task_run_name="distill-{arm.name}", cache_policy=NO_CACHE)
def distill_arm(
    arm: ArmSpec,
    train: TrainSpec,
    data: DataInfo,
    teacher: TeacherInfo,
    runs_dir: Path,
    code: CodeVersion,
    run: RunRef | None = None,
    profile_img_size: int = 1024,
) -> DistillOutputs:
    """Distil ``arm`` (or reuse its finished work folder) and log it to ``run``."""
    logger = get_run_logger()
    require_part(data, "unlabeled")
    config = distill_config(arm, train, data, teacher, runs_dir)
    key = distill_key(config, data, teacher, code, profile_img_size)
    work_dir = step_dir(runs_dir, "distill", arm.name, key)
    outputs = read_outputs(work_dir, DistillOutputs)
    if outputs is not None:
        logger.info("%s: reusing the finished distillation in %s", arm.name, work_dir)
    else:
        with device_slot(train.device) as device:
            config = config.model_copy(update={"out_dir": work_dir, "device": device})
            logger.info("%s: distilling %s on %s into %s", arm.name, arm.arch, device, work_dir)
            outputs = _train_and_profile(config, arm, run, profile_img_size)
        write_outputs(work_dir, outputs)
    if run is not None:
        log_distill_outputs(run, outputs, teacher)
    return outputs
