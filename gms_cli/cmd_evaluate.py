"""``gms evaluate``: mIoU of a student (or of the teacher) on COCO boxes or MALSD hand points."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from gms_models.errors import ConfigError

if TYPE_CHECKING:
    from gms_models.evaluate.results import CocoBoxEval, PointEval, Reference

TEACHER_NAME = "teacher (vit_t)"
#: Everything the command writes into --out, replaced as one set by each run.
OUTPUT_FILES = ("metrics.json", "per_annotation.json", "per_prompt.json", "grid.png")


def _print_result(console: Console, name: str, result: CocoBoxEval | PointEval) -> None:
    table = Table(title=name)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("images", str(result.images))
    table.add_row("prompts", str(result.prompts))
    for key, value in result.metrics().items():
        table.add_row(key, f"{value:.4f}")
    counts = getattr(result, "counts", None)
    if counts:
        for key, value in counts.items():
            table.add_row(f"annotations {key}", str(value))
    table.add_row("prompts/s", f"{result.prompts_per_second:.2f}")
    console.print(table)


def evaluate_command(
    teacher: Annotated[
        Path, typer.Option(help="Teacher checkpoint (mobile_sam.pt layout); also the decoder.")
    ],
    arch: Annotated[str | None, typer.Option(help="Student encoder name, e.g. gmf_2282.")] = None,
    student: Annotated[
        Path | None, typer.Option(help="Student checkpoint (student.pt or last.pt).")
    ] = None,
    teacher_only: Annotated[
        bool, typer.Option("--teacher-only", help="Evaluate the teacher itself (no student).")
    ] = False,
    coco: Annotated[
        Path | None, typer.Option(help="COCO instances JSON: box prompts per annotation.")
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Folder of the COCO images (with --coco).")
    ] = None,
    malsd: Annotated[
        Path | None, typer.Option(help="MALSD folder: hand-point prompts of its test split.")
    ] = None,
    against: Annotated[
        Literal["gt", "teacher"] | None,
        typer.Option(
            help="Reference masks: COCO ground truth, or the teacher's masks for the same "
            "prompt. (default: gt with --coco, teacher with --malsd)"
        ),
    ] = None,
    max_images: Annotated[int | None, typer.Option(min=1, help="Only the first N images.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder. (default: runs/evaluate/<arch>)")
    ] = None,
    grid: Annotated[int, typer.Option(min=0, help="Images in the mask grid (0: no figure).")] = 4,
    img_size: Annotated[
        int | None,
        typer.Option(help="Model input side. (default: the student's; 1024 for --teacher-only)"),
    ] = None,
    teacher_size: Annotated[
        int | None,
        typer.Option(
            help="Teacher input side. (default: the student's distillation size, else 1024)"
        ),
    ] = None,
    batch_prompts: Annotated[int, typer.Option(min=1, help="Box prompts per decoder call.")] = 64,
    include_crowd: Annotated[
        bool, typer.Option("--include-crowd", help="Also score COCO crowd annotations.")
    ] = False,
    candidates: Annotated[
        Literal["multimask", "all", "single"],
        typer.Option(
            help="Masks to choose from by predicted IoU: the 3 multimask outputs, all 4 "
            "decoder outputs (nanosam's TensorRT decoder), or the single-mask output."
        ),
    ] = "multimask",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Score a student encoder (or the teacher) by mIoU with the teacher's prompt encoder and
    mask decoder: COCO box prompts, or MALSD hand points against the teacher's masks."""
    from gms_models.data.coco import CocoInstances
    from gms_models.data.malsd import class_images, read_points
    from gms_models.evaluate.run import evaluate_checkpoint
    from gms_models.files import output_set, write_json
    from gms_models.teacher.base import resolve_device

    if (student is None) == (not teacher_only):
        raise ConfigError("give either --student CKPT or --teacher-only (exactly one of them)")
    if student is not None and not arch:
        raise ConfigError("--student needs --arch NAME (the encoder the checkpoint holds)")
    if (coco is None) == (malsd is None):
        raise ConfigError("give either --coco ANN_JSON --images DIR or --malsd DIR")
    if coco is not None and images is None:
        raise ConfigError("--coco needs --images DIR (the folder of the annotated images)")
    if malsd is not None and images is not None:
        raise ConfigError("--images goes with --coco; a MALSD folder holds its own images")
    reference: Reference = against or ("gt" if coco is not None else "teacher")
    if malsd is not None and reference == "gt":
        raise ConfigError("--against gt needs --coco: MALSD has no ground-truth masks")
    if teacher_only and reference == "teacher":
        raise ConfigError(
            "--teacher-only with --against teacher would compare the teacher with itself"
        )
    # Data first: a bad dataset fails in a second, before any model is built.
    if coco is not None:
        assert images is not None
        data: Any = CocoInstances(coco, images, max_images=max_images)
    else:
        assert malsd is not None
        class_images(malsd, "test")  # the MALSD layout (both classes of the test split) first
        data = read_points(malsd)[:max_images]

    out_dir = out if out is not None else Path("runs") / "evaluate" / (arch or "teacher")
    settings = {
        "arch": arch,
        "student": None if student is None else str(student),
        "teacher": str(teacher),
        "dataset": str(coco if coco is not None else malsd),
        "against": reference,
        "max_images": max_images,
    }
    # one set: a killed or failed run never leaves a grid of an earlier run beside new metrics
    with output_set(out_dir, OUTPUT_FILES) as staged:
        done = evaluate_checkpoint(
            teacher,
            data,
            staged,
            arch=arch,
            student=student,
            against=reference,
            img_size=img_size,
            teacher_size=teacher_size,
            batch_prompts=batch_prompts,
            include_crowd=include_crowd,
            candidates=candidates,
            grid_images=grid,
            device=str(resolve_device(device)),
            progress=progress,
        )
        metrics = write_json(
            staged / "metrics.json", {**done.result.summary(), "settings": settings}
        )
    _print_result(Console(), arch or TEACHER_NAME, done.result)
    console = Console(stderr=True)
    for path in (metrics, done.records, done.grid):
        if path is not None:
            console.print(f"wrote {out_dir / path.name}", highlight=False)


COMMANDS = {"evaluate": evaluate_command}
