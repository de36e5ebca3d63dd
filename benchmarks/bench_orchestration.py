"""Orchestration overhead: one tiny arm (distil → export → evaluate) as bare library calls and as
the ``distill`` flow with MLflow logging, in one process: the first flow run alone, then
interleaved pairs, then a run that reuses every cached step."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import load_average
from rich.console import Console
from rich.table import Table


def bare_arm(args: argparse.Namespace, data: Path, teacher: Path, out: Path) -> float:
    from gms_models.data.coco import CocoInstances
    from gms_models.evaluate.run import evaluate_checkpoint
    from gms_models.export import export_bundle, student_sources
    from gms_models.profiling import profile_model
    from gms_models.registry import build_encoder
    from gms_models.train import DistillConfig, distill
    from tasks.export import measure_latencies

    started = time.perf_counter()
    config = DistillConfig(
        arch=args.arch,
        img_size=args.img_size,
        images=data / "unlabeled",
        teacher=teacher,
        teacher_backend="torch",
        epochs=args.epochs,
        batch_size=2,
        num_workers=0,
        device="cpu",
        out_dir=out / "distill",
        cache_dir=out / "cache",
    )
    (result,) = distill([config], progress=False)
    profile_model(build_encoder(args.arch, img_size=args.img_size), args.img_size)
    bundle = out / "bundle"
    export_bundle(bundle, student_sources(args.arch, result.checkpoint), overwrite=True)
    measure_latencies(
        bundle, result.checkpoint, args.arch, args.img_size, ["onnxruntime"], 1, "cpu"
    )
    coco = CocoInstances(
        data / "coco/annotations/instances.json", data / "coco/images", max_images=args.images
    )
    evaluate_checkpoint(
        teacher,
        coco,
        out / "eval",
        arch=args.arch,
        student=result.checkpoint,
        against="teacher",
        grid_images=1,
    )
    return time.perf_counter() - started


def flow_arm(args: argparse.Namespace, data: Path, teacher: Path, runs: Path, store: str) -> float:
    from flows.distill_ablation import distill
    from flows.params import DistillParams
    from gms_models.train.config import Arm, DistillSettings
    from tasks.specs import DataSpec, EvalSpec, ExportSpec, TeacherSource, TrackingSpec

    params = DistillParams(
        experiment="bench-orchestration",
        arm=args.arch,
        arms={args.arch: Arm()},
        train=DistillSettings(
            img_size=args.img_size, batch_size=2, epochs=args.epochs, num_workers=0, device="cpu"
        ),
        export=ExportSpec(decoder=False),
        evaluate=EvalSpec(
            max_images=args.images,
            mask_grid_images=1,
            profile_img_size=args.img_size,
            latency_runtimes=["onnxruntime"],
            latency_runs=1,
        ),
        data=DataSpec(root=data),
        teacher=TeacherSource(checkpoint=str(teacher), backend="torch"),
        tracking=TrackingSpec(runs_dir=runs, tracking_uri=store),
        torch_threads=args.threads,
    )
    started = time.perf_counter()
    distill(params)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="gmf_2282")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=2, help="COCO images evaluated")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed bare/flow pairs")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="gms-bench-orchestration-"))
    os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    (root / "prefect").mkdir()

    import torch

    from gms_models.data.demo import generate_demo
    from tasks.teacher import random_teacher
    from tasks.tracking import local_store_uri

    torch.set_num_threads(args.threads)
    console = Console()
    load_before = load_average()
    data = generate_demo(root / "data", seed=0, scale="tiny").parent
    teacher = random_teacher(root / "teacher", seed=0)
    store = local_store_uri(root / "store")

    bare_arm(args, data, teacher, root / "bare-warmup")  # imports and first-call costs, untimed
    cold = flow_arm(args, data, teacher, root / "flow-cold", store)
    bare, warm = [], []
    for i in range(args.repeats):
        bare.append(bare_arm(args, data, teacher, root / f"bare-{i}"))
        warm.append(flow_arm(args, data, teacher, root / f"flow-{i}", store))
    reused = flow_arm(args, data, teacher, root / "flow-0", store)
    load_after = load_average()

    base, flow = statistics.median(bare), statistics.median(warm)
    table = Table(title=f"one {args.arch} arm at {args.img_size} px, {args.epochs} epoch(s)")
    table.add_column("run")
    table.add_column("seconds", justify="right")
    table.add_column("minus bare (s)", justify="right")
    table.add_row(f"bare library calls (median of {args.repeats})", f"{base:.1f}", "–")
    for name, value in (
        (f"flow with MLflow logging (median of {args.repeats})", flow),
        ("flow, first in process (temporary Prefect server, MLflow schema)", cold),
        ("flow, every step reused from the cache", reused),
    ):
        table.add_row(name, f"{value:.1f}", f"{value - base:+.1f}")
    console.print(table)
    bare_s, warm_s = (", ".join(f"{v:.1f}" for v in runs) for runs in (bare, warm))
    console.print(f"bare runs: {bare_s} s; flow runs: {warm_s} s")
    console.print(
        f"load average before: {load_before}; after: {load_after} ({os.cpu_count()} cores)"
    )
    console.print(f"work folder: {root}")


if __name__ == "__main__":
    main()
