"""Run a group of three stand-in students in its own process (for the group SIGKILL test).

Usage: python distill_group_standin_script.py IMAGES OUT [--resume] [--hold-after EPOCH]

Prints ``EPOCH_END <epoch> <student>`` after each student's checkpoint, flushed. With
``--hold-after E`` the process sleeps right after the *first* student's checkpoint of epoch ``E``,
so the parent can kill it while the students stand at different epochs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import standins

from gms_models.train import TrainerCallback, distill

#: The three arms: (name, lr).
ARMS = (("fast", 3e-3), ("slow", 1e-3), ("slower", 3e-4))


def group_configs(images: Path, out: Path, *, resume: bool) -> list:
    return [
        standins.tiny_config(images, out / name, name=name, lr=lr, resume=resume)
        for name, lr in ARMS
    ]


class Announce(TrainerCallback):
    def __init__(self, hold_after: int | None) -> None:
        self.hold_after = hold_after

    def on_epoch_end(self, event):
        print(f"EPOCH_END {event.epoch} {event.student}", flush=True)
        if event.epoch == self.hold_after and event.student == ARMS[0][0]:
            time.sleep(300)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("images", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--hold-after", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = distill(
        group_configs(args.images, args.out, resume=args.resume),
        teacher=standins.tiny_teacher(),
        callbacks=[Announce(args.hold_after)],
        progress=False,
        log_every=1,
    )
    print("DONE " + " ".join(str(r.epochs_completed) for r in results), flush=True)


if __name__ == "__main__":
    main()
