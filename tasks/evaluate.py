"""Steps: score an arm (or the teacher) by box-prompt mIoU on COCO (Table 2), or by point-prompt
mIoU on MALSD against the teacher's masks (Table 3), with a mask-grid picture of a few images.

``reference`` says what the masks are scored against: ``gt`` (COCO's masks, the paper's
protocol) or ``teacher`` (the teacher's masks for the same prompts — the only meaningful score
when the teacher has random weights, see :func:`resolve_reference`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks.caching import CodeVersion, read_outputs, step_dir, step_key, write_outputs
from tasks.data import require_part
from tasks.devices import device_slot
from tasks.results import (
    DataInfo,
    DistillOutputs,
    EvalOutputs,
    PointEvalOutputs,
    RunRef,
    TeacherInfo,
)
from tasks.specs import EvalSpec
from tasks.tracking import log_artifact, log_metrics, log_params

if TYPE_CHECKING:
    from gms_models.data.coco import CocoInstances
    from gms_models.sam import Sam

Reference = Literal["gt", "teacher"]
RESULT_FILE = "coco_boxes.json"
POINTS_FILE = "malsd_points.json"
GRID_FILE = "mask_grid.png"
TEACHER_ARM = "teacher"


def resolve_reference(spec: EvalSpec, teacher: TeacherInfo) -> Reference:
    """``auto`` → the teacher's masks for a random-weight teacher, else COCO's."""
    if spec.reference == "auto":
        return "teacher" if teacher.random else "gt"
    return spec.reference


def _teacher_size(distilled: DistillOutputs) -> int:
    config = distilled.config
    return int(str(config.get("teacher_size") or config["img_size"]))


def _coco(data: DataInfo, spec: EvalSpec) -> CocoInstances:
    from gms_models.data.coco import CocoInstances

    require_part(data, "coco")
    return CocoInstances(data.coco_annotations, data.coco_images, max_images=spec.max_images)


def _coco_grid(
    coco: CocoInstances, spec: EvalSpec, models: dict[str, Sam], out: Path
) -> Path | None:
    from gms_models.evaluate import coco_grid_prompts, render_mask_grid

    images = [coco[i] for i in range(min(spec.mask_grid_images, len(coco)))]
    images = [image for image in images if coco_grid_prompts(image)]
    if not images:
        return None
    return render_mask_grid(
        [image.path for image in images],
        [coco_grid_prompts(image) for image in images],
        models,
        out,
    )


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
    from gms_models.evaluate import (
        build_student_sam,
        build_teacher_sam,
        evaluate_coco_boxes,
        evaluate_coco_vs_teacher,
    )
    from gms_models.files import sha256_file

    logger = get_run_logger()
    reference = resolve_reference(spec, teacher)
    payload = {
        "student": sha256_file(distilled.checkpoint),
        "teacher": teacher.sha256,
        "coco": data.fingerprints.get("coco"),
        "reference": reference,
        "eval": spec.model_dump(
            mode="json", include={"max_images", "batch_prompts", "mask_grid_images"}
        ),
    }
    work_dir = step_dir(runs_dir, "evaluate", distilled.arm, step_key("evaluate", payload, code))
    outputs = read_outputs(work_dir, EvalOutputs)
    if outputs is not None:
        logger.info("%s: reusing the evaluation in %s", distilled.arm, work_dir)
    else:
        coco = _coco(data, spec)
        with device_slot(device) as slot:
            student = build_student_sam(
                distilled.arch, distilled.checkpoint, teacher.checkpoint, device=slot
            )
            reference_sam = build_teacher_sam(teacher.checkpoint, _teacher_size(distilled), slot)
            if reference == "teacher":
                result = evaluate_coco_vs_teacher(
                    student, reference_sam, coco, batch_prompts=spec.batch_prompts, progress=False
                )
            else:
                result = evaluate_coco_boxes(
                    student, coco, batch_prompts=spec.batch_prompts, progress=False
                )
            grid = _coco_grid(
                coco,
                spec,
                {TEACHER_ARM: reference_sam, distilled.arm: student},
                work_dir / GRID_FILE,
            )
        outputs = EvalOutputs(
            arm=distilled.arm,
            work_dir=work_dir,
            reference=reference,
            metrics=result.metrics(),
            images=result.images,
            prompts=result.prompts,
            result_json=result.to_json(work_dir / RESULT_FILE),
            mask_grid=grid,
        )
        write_outputs(work_dir, outputs)
    logger.info(
        "%s: mIoU %.4f vs %s (%d prompts)",
        distilled.arm,
        outputs.metrics["miou"],
        reference,
        outputs.prompts,
    )
    if run is not None:
        log_eval_outputs(run, outputs)
    return outputs


def log_eval_outputs(run: RunRef, outputs: EvalOutputs, prefix: str = "") -> None:
    """mIoU metrics (``prefix``ed, e.g. ``teacher_`` on the parent run) and the files."""
    log_params(
        run, {f"{prefix}eval_reference": outputs.reference, f"{prefix}eval_images": outputs.images}
    )
    log_metrics(run, {f"{prefix}{k}": v for k, v in outputs.metrics.items()})
    folder = f"eval/{outputs.arm}" if prefix else "eval"
    log_artifact(run, outputs.result_json, folder)
    if outputs.mask_grid is not None:
        log_artifact(run, outputs.mask_grid, folder)


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
    from gms_models.evaluate import build_teacher_sam, evaluate_coco_boxes

    logger = get_run_logger()
    payload = {
        "teacher": teacher.sha256,
        "coco": data.fingerprints.get("coco"),
        "img_size": img_size,
        "eval": spec.model_dump(
            mode="json", include={"max_images", "batch_prompts", "mask_grid_images"}
        ),
    }
    work_dir = step_dir(
        runs_dir, "evaluate", TEACHER_ARM, step_key("evaluate-teacher", payload, code)
    )
    outputs = read_outputs(work_dir, EvalOutputs)
    if outputs is None:
        coco = _coco(data, spec)
        with device_slot(device) as slot:
            sam = build_teacher_sam(teacher.checkpoint, img_size, slot)
            result = evaluate_coco_boxes(
                sam, coco, batch_prompts=spec.batch_prompts, progress=False
            )
            grid = _coco_grid(coco, spec, {TEACHER_ARM: sam}, work_dir / GRID_FILE)
        outputs = EvalOutputs(
            arm=TEACHER_ARM,
            work_dir=work_dir,
            reference="gt",
            metrics=result.metrics(),
            images=result.images,
            prompts=result.prompts,
            result_json=result.to_json(work_dir / RESULT_FILE),
            mask_grid=grid,
        )
        write_outputs(work_dir, outputs)
    logger.info("teacher: mIoU %.4f vs gt (%d prompts)", outputs.metrics["miou"], outputs.prompts)
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
) -> PointEvalOutputs:
    """Point-prompt mIoU on MALSD (hand points) against the teacher's masks: Table 3."""
    from gms_models.data.malsd import read_points
    from gms_models.evaluate import (
        build_student_sam,
        build_teacher_sam,
        checkpoint_teacher_size,
        evaluate_points_vs_teacher,
        hand_point_prompt,
        render_mask_grid,
    )
    from gms_models.files import sha256_file
    from gms_models.train import read_student_checkpoint

    logger = get_run_logger()
    require_part(data, "malsd")
    payload = {
        "student": sha256_file(checkpoint),
        "teacher": teacher.sha256,
        "malsd": data.fingerprints.get("malsd"),
        "grid_images": grid_images,
    }
    work_dir = step_dir(runs_dir, "segment", arm, step_key("points", payload, code))
    outputs = read_outputs(work_dir, PointEvalOutputs)
    if outputs is None:
        points = read_points(data.malsd)
        img_size = read_student_checkpoint(checkpoint, expected_arch=arch).img_size
        teacher_size = checkpoint_teacher_size(checkpoint) or img_size
        with device_slot(device) as slot:
            student = build_student_sam(arch, checkpoint, teacher.checkpoint, device=slot)
            reference = build_teacher_sam(teacher.checkpoint, teacher_size, slot)
            result = evaluate_points_vs_teacher(student, reference, points, progress=False)
            grid = None
            if grid_images > 0:
                shown = points[:grid_images]
                grid = render_mask_grid(
                    [entry.path for entry in shown],
                    [[hand_point_prompt(entry)] for entry in shown],
                    {TEACHER_ARM: reference, arm: student},
                    work_dir / GRID_FILE,
                )
        outputs = PointEvalOutputs(
            arm=arm,
            arch=arch,
            work_dir=work_dir,
            miou=result.miou,
            images=result.images,
            prompts=result.prompts,
            result_json=result.to_json(work_dir / POINTS_FILE),
            mask_grid=grid,
        )
        write_outputs(work_dir, outputs)
    logger.info(
        "%s: point mIoU %.4f vs the teacher on %d MALSD images", arm, outputs.miou, outputs.images
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
        log_metrics(run, {"miou": outputs.miou})
        log_artifact(run, outputs.result_json, "eval")
        if outputs.mask_grid is not None:
            log_artifact(run, outputs.mask_grid, "eval")
    return outputs
