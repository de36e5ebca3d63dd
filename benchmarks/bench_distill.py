"""Distillation throughput of our trainer against a plain nanosam-style loop, in one run.

Same student, teacher and in-memory crops; ours / plain per median step and end to end (best
round); rounds alternate the two loops."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _common import COCO_MINI, RANDOM_TEACHER, load_average
from torch.utils.data import DataLoader, Dataset

from gms_models.data.image_folder import DistillSample, ImageFolderDataset
from gms_models.registry import build_encoder
from gms_models.teacher import TeacherSpec, TorchTeacher
from gms_models.train import DistillConfig, TrainerCallback, distill


class InMemoryCrops(Dataset):
    """Pre-computed (teacher, student, index) crops; the same every epoch."""

    def __init__(self, samples: list[DistillSample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> DistillSample:
        return self.samples[index]

    def set_epoch(self, epoch: int) -> None:
        """Crops are fixed; nothing to select."""


class StepClock(TrainerCallback):
    """Wall time of every step (from the previous step's end, or the epoch's start)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._last = 0.0

    def on_epoch_start(self, epoch: int, steps: int) -> None:
        self._last = time.perf_counter()

    def on_step(self, event) -> None:
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now


def plain_loop(
    teacher: torch.nn.Module, data: Dataset, args: argparse.Namespace
) -> tuple[list[float], float]:
    """nanosam's loop; returns (seconds per step, seconds end to end)."""
    torch.manual_seed(0)
    student = build_encoder(args.arch, img_size=args.img_size).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-4)
    loader = DataLoader(
        data, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    steps: list[float] = []
    started = time.perf_counter()
    for _ in range(args.epochs):
        last = time.perf_counter()
        for batch in loader:
            with torch.no_grad():
                targets = teacher(batch.teacher)
            output = student(batch.student)
            loss = F.huber_loss(output, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            now = time.perf_counter()
            steps.append(now - last)
            last = now
    return steps, time.perf_counter() - started


def our_trainer(
    teacher: TorchTeacher, data: Dataset, args: argparse.Namespace
) -> tuple[list[float], float]:
    """``distill`` with all features on; returns (seconds per step, seconds end to end)."""
    clock = StepClock()
    with tempfile.TemporaryDirectory() as out_dir:
        config = DistillConfig(
            arch=args.arch,
            images=Path(out_dir),
            teacher=RANDOM_TEACHER,
            teacher_backend="torch",
            img_size=args.img_size,
            epochs=args.epochs,
            batch_size=args.batch_size,
            num_workers=0,
            out_dir=Path(out_dir) / "run",
        )
        (result,) = distill([config], teacher=teacher, dataset=data, callbacks=[clock])
    return clock.seconds, result.wall_time_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="gmf_2282")
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = load_average()

    coco = COCO_MINI / "val2017"
    crops = ImageFolderDataset(coco, teacher_size=args.img_size, fixed_crops=True)
    data = InMemoryCrops([crops.sample(i) for i in range(args.images)])
    teacher = TorchTeacher(
        TeacherSpec.from_checkpoint(RANDOM_TEACHER, args.img_size), torch.device("cpu")
    )
    images = args.images * args.epochs

    steps: dict[str, list[float]] = {"plain": [], "ours": []}
    totals: dict[str, list[float]] = {"plain": [], "ours": []}
    for round_ in range(args.rounds):
        for key, (round_steps, total) in (
            ("plain", plain_loop(teacher.module, data, args)),
            ("ours", our_trainer(teacher, data, args)),
        ):
            steps[key] += round_steps
            totals[key].append(total)
        plain, ours = (images / totals[key][-1] for key in ("plain", "ours"))
        print(
            f"round {round_ + 1}: plain {plain:.3f} img/s, ours {ours:.3f} img/s (end to end)",
            flush=True,
        )
    median = {key: statistics.median(seconds) for key, seconds in steps.items()}
    step_ratio = median["plain"] / median["ours"]
    total_ratio = min(totals["plain"]) / min(totals["ours"])
    print(
        f"\n{args.arch} at {args.img_size}, batch {args.batch_size}, {args.images} images x "
        f"{args.epochs} epochs x {args.rounds} rounds, {args.threads} torch thread(s)"
    )
    for label, key in (("plain nanosam loop", "plain"), ("ours (gms distill)", "ours")):
        step = median[key]
        print(f"{label} : median step {step:.3f} s = {args.batch_size / step:.3f} img/s")
    print(f"ratio ours/plain, training steps   : {step_ratio:.3f}")
    print(f"ratio ours/plain, end to end (best): {total_ratio:.3f}")
    print(f"per-step throughput {'meets' if step_ratio >= 0.95 else 'MISSES'} the 0.95x bound")
    print(f"load average before: {load_before}; after: {load_average()} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
