"""Run a stand-in distillation in its own process (for the SIGKILL resume test).

Usage: python distill_standin_script.py IMAGES OUT EPOCHS [--resume] [--step-delay S]

Prints ``EPOCH_END <n>`` after each epoch's checkpoint and ``STEP <epoch> <step>`` after each
step, flushed, so the parent can kill it at a known point.
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


class Announce(TrainerCallback):
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def on_step(self, event):
        print(f"STEP {event.epoch} {event.step}", flush=True)
        time.sleep(self.delay)

    def on_epoch_end(self, event):
        print(f"EPOCH_END {event.epoch}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("images", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("epochs", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--step-delay", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = standins.tiny_config(args.images, args.out, epochs=args.epochs, resume=args.resume)
    (result,) = distill(
        [config],
        teacher=standins.tiny_teacher(),
        callbacks=[Announce(args.step_delay)],
        progress=False,
        log_every=1,
    )
    print(f"DONE {result.epochs_completed}", flush=True)


if __name__ == "__main__":
    main()
