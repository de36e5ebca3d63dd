"""One teacher pass for many students: arms trained together vs one by one, in one run.

For N = 3 and 5, the measured ratio beside the one predicted from step times; on CUDA, Table 2's
setup and (``--table2``) the extrapolated hours of the full ablation."""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from _common import COCO_MINI, RANDOM_TEACHER, load_average
from torch.utils.data import DataLoader

from flows.params import TABLE2_ARMS
from gms_models.data.image_folder import ImageFolderDataset
from gms_models.train import (
    DistillConfig,
    build_teacher,
    detect_devices,
    distill,
    group_by_recipe,
    pack_groups,
)
from gms_models.train.config import Arm, Arms, DistillSettings, arm_config
from gms_models.train.student import StudentRun

COCO = COCO_MINI / "val2017"

#: The arms in the order N takes them.
ARMS: Arms = {
    "gmf_2282-lr3e-4": Arm(arch="gmf_2282"),
    "gmf_2282-lr1e-3": Arm(arch="gmf_2282", lr=1e-3),
    "resnet18": Arm(),
    "gmf_3344": Arm(),
    "vit_t": Arm(),
}
COCO_TRAIN_IMAGES = 118_287
TABLE2_EPOCHS = 13
TABLE2_BATCH = 8


@dataclass(frozen=True)
class Took:
    wall: float
    cpu: float

    def __add__(self, other: Took) -> Took:
        return Took(self.wall + other.wall, self.cpu + other.cpu)


def timed(run: Callable[[], object], device: torch.device) -> Took:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return Took(time.perf_counter() - wall, time.process_time() - cpu)


def median_took(times: list[Took]) -> Took:
    return Took(statistics.median(t.wall for t in times), statistics.median(t.cpu for t in times))


def median_time(run: Callable[[], object], reps: int, device: torch.device) -> Took:
    """Median wall and CPU time of ``run()`` over ``reps`` calls after one warm-up call."""
    timed(run, device)
    return median_took([timed(run, device) for _ in range(reps)])


def arm_configs(
    arms: Arms, images: Path, out: Path, args: argparse.Namespace
) -> list[DistillConfig]:
    settings = DistillSettings(
        amp=args.amp,
        img_size=args.img_size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        num_workers=0,
        device=args.device,
    )
    return [
        arm_config(
            name,
            arm,
            settings,
            images=images,
            teacher=RANDOM_TEACHER,
            teacher_backend="torch",
            teacher_precision=args.teacher_precision,
            out_dir=out / name,
        )
        for name, arm in arms.items()
    ]


def measure_steps(
    configs: list[DistillConfig], reps: int, out: Path
) -> tuple[Took, Took, dict[str, Took]]:
    """(data, teacher, {arch: student step}) seconds per batch, by the trainer's own parts."""
    first = configs[0]
    device = torch.device(first.device if first.device != "auto" else "cpu")
    dataset = ImageFolderDataset(
        first.images, teacher_size=first.img_size, student_size=first.img_size, seed=first.seed
    )
    loader = DataLoader(dataset, batch_size=first.batch_size, shuffle=True)
    batch = next(iter(loader))
    data = median_time(lambda: next(iter(loader)), reps, torch.device("cpu"))
    teacher = build_teacher(first, device)
    images = batch.teacher.to(device)
    targets = teacher(images)
    t = median_time(lambda: teacher(images), reps, device)
    teacher.close()
    students: dict[str, Took] = {}
    for config in configs:
        if config.arch in students:
            continue  # the same arch at another lr costs the same
        probe = config.model_copy(update={"out_dir": out / "probe"})
        student = StudentRun(probe, device=device, steps_per_epoch=reps + 1)
        student.begin_epoch(reps + 1)
        indices = iter(range(reps + 1))
        students[config.arch] = median_time(
            lambda s=student, i=indices: s.train_step(images, targets, next(i)), reps, device
        )
        del student
    return data, t, students


def table2_hours(
    args: argparse.Namespace, images: Path, out: Path, device_name: str
) -> tuple[float, float, int]:
    """Extrapolated hours of the full ablation: (one by one, packed groups, number of parts)."""
    configs = arm_configs(TABLE2_ARMS, images, out, args)
    configs = [c.model_copy(update={"batch_size": TABLE2_BATCH}) for c in configs]
    data, t, s = measure_steps(configs, args.reps, out)
    steps = TABLE2_EPOCHS * math.ceil(COCO_TRAIN_IMAGES / TABLE2_BATCH)
    alone = steps * sum(data.wall + t.wall + s[c.arch].wall for c in configs)
    parts = pack_groups(group_by_recipe(configs), detect_devices(device_name))
    together = steps * sum(
        data.wall + t.wall + sum(s[c.arch].wall for c in p.configs) for p in parts
    )
    return alone / 3600, together / 3600, len(parts)


def show(took: Took, digits: int = 3) -> str:
    """``wall (cpu)`` on the CPU, ``wall`` on a GPU (where process CPU time means nothing)."""
    wall = f"{took.wall:.{digits}f}"
    return wall if torch.cuda.is_available() else f"{wall} ({took.cpu:.{digits}f})"


def report(round_: int, what: str, took: Took) -> None:
    print(f"round {round_ + 1} {what}: {show(took, 1)} s (load {load_average()})", flush=True)


def main() -> None:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--img-size", type=int, default=1024 if cuda else 256)
    parser.add_argument("--batch-size", type=int, default=8 if cuda else 2)
    parser.add_argument("--images", type=int, default=32 if cuda else 8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5 if cuda else 3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table2", action=argparse.BooleanOptionalAction, default=cuda)
    args = parser.parse_args()
    args.device = "cuda" if cuda else "cpu"
    args.amp = "bf16" if cuda else "off"
    args.teacher_precision = "bf16" if cuda else "fp32"
    torch.set_num_threads(args.threads)
    device_label = torch.cuda.get_device_name() if cuda else f"CPU, {args.threads} thread(s)"
    print(
        f"load average at start: {load_average()} ({os.cpu_count()} CPUs); device: {device_label}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        images = tmp_path / "images"
        images.mkdir()
        for image in sorted(COCO.glob("*.jpg"))[: args.images]:
            (images / image.name).symlink_to(image)
        configs = arm_configs(ARMS, images, tmp_path / "runs", args)
        data, t, s = measure_steps(configs, args.reps, tmp_path)
        clock = "wall" if cuda else "wall (CPU)"
        print(
            f"\nstep times in s, {clock}, at {args.img_size} px, batch {args.batch_size} "
            f"(median of {args.reps}): data {show(data)}, teacher {show(t)}, "
            + ", ".join(f"{arch} {show(took)}" for arch, took in s.items()),
            flush=True,
        )
        device = torch.device(args.device)
        # warm-up (first-call costs: plotting, checkpoint writers), not timed
        distill([configs[0].model_copy(update={"out_dir": tmp_path / "warm-up"})], progress=False)
        rounds: list[dict[str, Took]] = []
        for round_ in range(args.rounds):
            took: dict[str, Took] = {}
            # the group runs bracket the solo runs, so that drifting load hits both alike
            for n in (3, 5):
                if n == 5:
                    for config in configs:
                        folder = tmp_path / f"alone{round_}" / config.run_name
                        solo = config.model_copy(update={"out_dir": folder})
                        took[config.run_name] = timed(
                            lambda c=solo: distill([c], progress=False), device
                        )
                        report(round_, f"alone {config.run_name}", took[config.run_name])
                group = [
                    c.model_copy(update={"out_dir": tmp_path / f"group{n}-{round_}" / c.run_name})
                    for c in configs[:n]
                ]
                took[f"N={n}"] = timed(lambda g=group: distill(g, progress=False), device)
                report(round_, f"together N={n}", took[f"N={n}"])
            rounds.append(took)

        steps = args.epochs * math.ceil(args.images / args.batch_size)
        print(
            f"\n{args.images} images x {args.epochs} epoch(s) = {steps} steps per arm, "
            f"input {args.img_size}, batch {args.batch_size}, {device_label}; "
            f"seconds {clock}, median of {args.rounds} round(s)"
        )
        print("N | one by one s   | together s     | ratio measured  | ratio predicted")
        for n in (3, 5):
            arms = configs[:n]
            one_by_one = [sum((r[c.run_name] for c in arms), Took(0, 0)) for r in rounds]
            together = [r[f"N={n}"] for r in rounds]
            # together = data + T + sum_i S_i; one by one = sum_i (data + T + S_i)
            grouped = sum((s[c.arch] for c in arms), data + t)
            alone = sum((data + t + s[c.arch] for c in arms), Took(0, 0))
            pairs = list(zip(together, one_by_one, strict=True))
            ratio = Took(
                statistics.median(g.wall / a.wall for g, a in pairs),
                statistics.median(g.cpu / a.cpu for g, a in pairs),
            )
            print(
                f"{n} | {show(median_took(one_by_one), 1):14} | "
                f"{show(median_took(together), 1):14} | {show(ratio, 3):15} | "
                f"{show(Took(grouped.wall / alone.wall, grouped.cpu / alone.cpu), 3)}"
            )
        if args.table2:
            hours_alone, hours_together, parts = table2_hours(args, images, tmp_path, args.device)
            print(
                f"\nTable 2 extrapolated ({len(TABLE2_ARMS)} arms x {TABLE2_EPOCHS} epochs x "
                f"{COCO_TRAIN_IMAGES} images, batch {TABLE2_BATCH}, input {args.img_size}, "
                f"{device_label}): one by one {hours_alone:.1f} h, together in {parts} "
                f"group(s) {hours_together:.1f} h (ratio {hours_together / hours_alone:.3f})"
            )
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
