"""Box-prompt evaluation throughput on CPU: prompts/s of the COCO evaluator (one embedding per
image, its boxes decoded in batches) at input 1024 and 256, random-weight teacher, coco-mini."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from _common import COCO_MINI, RANDOM_TEACHER, load_average
from rich.console import Console
from rich.table import Table

from gms_models.data.coco import CocoInstances
from gms_models.evaluate.coco_boxes import evaluate_coco_boxes
from gms_models.evaluate.results import CocoBoxEval
from gms_models.evaluate.run import build_teacher_sam


def run(teacher: Path, coco_root: Path, size: int, images: int, batch_prompts: int) -> CocoBoxEval:
    annotations = coco_root / "annotations" / "instances_val2017.json"
    sam = build_teacher_sam(teacher, size)
    warmup = CocoInstances(annotations, coco_root / "val2017", max_images=1)
    evaluate_coco_boxes(sam, warmup, batch_prompts=batch_prompts, progress=False)
    coco = CocoInstances(annotations, coco_root / "val2017", max_images=images)
    return evaluate_coco_boxes(sam, coco, batch_prompts=batch_prompts, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="timed images per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 256])
    parser.add_argument("--batch-prompts", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--teacher", type=Path, default=RANDOM_TEACHER)
    parser.add_argument("--coco-root", type=Path, default=COCO_MINI)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    console = Console()
    console.print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"load average before: {load_average()}"
    )
    table = Table(title=f"COCO box-prompt evaluation on CPU, {args.images} images per size")
    columns = ("input", "prompts", "seconds", "prompts/s", "load s", "encode s", "decode s")
    for column in columns:
        table.add_column(column, justify="right")
    for size in args.sizes:
        with console.status(f"evaluating at {size}"):
            result = run(args.teacher, args.coco_root, size, args.images, args.batch_prompts)
        timings = result.timings
        table.add_row(
            str(size),
            str(result.prompts),
            f"{result.seconds:.2f}",
            f"{result.prompts_per_second:.1f}",
            f"{timings['load']:.2f}",
            f"{timings['encode']:.2f}",
            f"{timings['decode']:.2f}",
        )
    table.caption = f"load average after: {load_average()}"
    console.print(table)


if __name__ == "__main__":
    main()
