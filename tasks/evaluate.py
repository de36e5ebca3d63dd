"""Steps: box-prompt mIoU on COCO (Table 2) and point-prompt mIoU on MALSD (Table 3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.caching import CodeVersion, cached_step
from tasks.data import require_part
from tasks.execution import run_logger
from tasks.results import DataInfo, DistillOutputs, EvalOutputs, RunRef, TeacherInfo
from tasks.specs import EvalSpec
from tasks.tracking import log_artifact, log_metrics, log_params

Reference = Literal["gt", "teacher"]


def resolve_reference(spec: EvalSpec, teacher: TeacherInfo) -> Reference:
    """``auto`` → the teacher's masks for a random-weight teacher, else COCO's."""
    if spec.reference == "auto":
        return "teacher" if teacher.random else "gt"
    return spec.reference


def _evaluate(
    arm: str,
    step: str,
    payload: Mapping[str, object],
    reference: Reference,
    teacher: TeacherInfo,
    dataset: Callable[[], Any],
    runs_dir: Path,
    code: CodeVersion,
    device: str,
    key_step: str,
    **options: Any,
) -> EvalOutputs:
    """The cached evaluation of one model (the student in ``options``, else the teacher) on
    ``dataset()``, made only when the work folder has none."""
    from gms_models.evaluate.run import evaluate_checkpoint

    def compute(work_dir: Path, slot: str) -> EvalOutputs:
        done = evaluate_checkpoint(
            teacher.checkpoint, dataset(), work_dir, name=arm, against=reference, device=slot,
            **options,
        )  # fmt: skip
        return EvalOutputs(
            arm=arm,
            work_dir=work_dir,
            images=done.result.images,
            prompts=done.result.prompts,
            result_json=done.records,
            mask_grid=done.grid,
            reference=reference,
            metrics=done.result.metrics(),
        )

    return cached_step(
        runs_dir, step, arm, payload, code, EvalOutputs, compute, device=device, key_step=key_step
    )


def _log_eval_files(run: RunRef, outputs: EvalOutputs, folder: str) -> None:
    log_artifact(run, outputs.result_json, folder)
    if outputs.mask_grid is not None:
        log_artifact(run, outputs.mask_grid, folder)


def _box_miou(
    arm: str,
    payload: Mapping[str, object],
    reference: Reference,
    teacher: TeacherInfo,
    data: DataInfo,
    spec: EvalSpec,
    runs_dir: Path,
    code: CodeVersion,
    device: str,
    key_step: str = "evaluate",
    **model: Any,
) -> EvalOutputs:
    from gms_models.data.coco import CocoInstances

    def coco() -> CocoInstances:
        require_part(data, "coco")
        return CocoInstances(data.coco_annotations, data.coco_images, max_images=spec.max_images)

    evaluated = spec.model_dump(
        mode="json", include={"max_images", "batch_prompts", "mask_grid_images"}
    )
    outputs = _evaluate(
        arm, "evaluate", {**payload, "eval": evaluated}, reference, teacher, coco, runs_dir, code,
        device, key_step, batch_prompts=spec.batch_prompts, grid_images=spec.mask_grid_images,
        **model,
    )  # fmt: skip
    run_logger().info(
        "%s: mIoU %.4f vs %s (%d prompts)", arm, outputs.metrics["miou"], reference, outputs.prompts
    )
    return outputs


@task(name="evaluate-arm", cache_policy=NO_CACHE)
def evaluate_arm(
    distilled: DistillOutputs,
    teacher: TeacherInfo,
    data: DataInfo,
    spec: EvalSpec,
    runs_dir: Path,
    code: CodeVersion,
    run: RunRef | None = None,
    device: str = "auto",
) -> EvalOutputs:
    """Box-prompt mIoU of the arm's SAM (student encoder + the teacher's decoder) on COCO."""
    from gms_models.files import sha256_file

    reference = resolve_reference(spec, teacher)
    payload = {
        "student": sha256_file(distilled.checkpoint),
        "teacher": teacher.sha256,
        "coco": data.fingerprints.get("coco"),
        "reference": reference,
    }
    outputs = _box_miou(
        distilled.arm, payload, reference, teacher, data, spec, runs_dir, code, device,
        arch=distilled.arch, student=distilled.checkpoint,
    )  # fmt: skip
    if run is not None:
        log_eval_outputs(run, outputs)
    return outputs


def log_eval_outputs(run: RunRef, outputs: EvalOutputs, prefix: str = "") -> None:
    """mIoU metrics (``prefix``ed, e.g. ``teacher_`` on the parent run) and the files."""
    log_params(
        run, {f"{prefix}eval_reference": outputs.reference, f"{prefix}eval_images": outputs.images}
    )
    log_metrics(run, {f"{prefix}{k}": v for k, v in outputs.metrics.items()})
    _log_eval_files(run, outputs, f"eval/{outputs.arm}" if prefix else "eval")


@task(name="evaluate-teacher", cache_policy=NO_CACHE)
def evaluate_teacher(
    teacher: TeacherInfo,
    data: DataInfo,
    spec: EvalSpec,
    img_size: int,
    runs_dir: Path,
    code: CodeVersion,
    run: RunRef | None = None,
    device: str = "auto",
) -> EvalOutputs:
    """Box-prompt mIoU of the teacher itself against COCO's masks (Table 2's T row)."""
    payload = {
        "teacher": teacher.sha256,
        "coco": data.fingerprints.get("coco"),
        "img_size": img_size,
    }
    outputs = _box_miou(
        "teacher", payload, "gt", teacher, data, spec, runs_dir, code, device,
        key_step="evaluate-teacher", img_size=img_size,
    )  # fmt: skip
    if run is not None:
        log_eval_outputs(run, outputs, prefix="teacher_")
    return outputs


@task(name="evaluate-points", task_run_name="points-{arm}", cache_policy=NO_CACHE)
def evaluate_points(
    arm: str,
    arch: str,
    checkpoint: Path,
    teacher: TeacherInfo,
    data: DataInfo,
    grid_images: int,
    runs_dir: Path,
    code: CodeVersion,
    run: RunRef | None = None,
    device: str = "auto",
) -> EvalOutputs:
    """Point-prompt mIoU on MALSD (hand points) against the teacher's masks: Table 3."""
    from gms_models.data.malsd import read_points
    from gms_models.files import sha256_file

    require_part(data, "malsd")
    payload = {
        "student": sha256_file(checkpoint),
        "teacher": teacher.sha256,
        "malsd": data.fingerprints.get("malsd"),
        "grid_images": grid_images,
    }
    outputs = _evaluate(
        arm, "segment", payload, "teacher", teacher, lambda: read_points(data.malsd), runs_dir,
        code, device, "points", arch=arch, student=checkpoint, grid_images=grid_images,
    )  # fmt: skip
    miou = outputs.metrics["miou"]
    run_logger().info(
        "%s: point mIoU %.4f vs the teacher on %d MALSD images", arm, miou, outputs.images
    )
    if run is not None:
        log_params(
            run,
            {
                "arch": arch,
                "source_checkpoint": str(checkpoint),
                "dataset": "MALSD",
                "prompt": "point",
            },
        )
        log_metrics(run, {"miou": miou})
        _log_eval_files(run, outputs, "eval")
    return outputs
