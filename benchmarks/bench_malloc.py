"""PyTorch CPU time with freed memory kept (gms_models' default) against glibc's default
(``GMS_KEEP_FREED_MEMORY=0``), at 1024, batch 1: deployed-form forward and one training step.
The setting holds per process, so each measurement is a child process; the settings alternate."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from _common import load_average
from rich.console import Console
from rich.table import Table

SIZE = 1024
SETTINGS = {"kept": "1", "unmapped": "0"}


def _step(name: str, mode: str) -> Callable[[], object]:
    import torch
    import torch.nn.functional as F

    from gms_models.encoders import inference_form
    from gms_models.registry import build_encoder

    torch.manual_seed(0)
    model = build_encoder(name, img_size=SIZE)
    x = torch.randn(1, 3, SIZE, SIZE)
    if mode == "forward":
        deployed = inference_form(model.eval())

        @torch.inference_mode()
        def forward() -> object:
            return deployed(x)

        return forward
    target = model.train()(x).detach()
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)

    def train_step() -> object:
        loss = F.huber_loss(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def child(name: str, mode: str, rounds: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    step = _step(name, mode)
    step()
    wall, system, faults = [], [], []
    for _ in range(rounds):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        step()
        after = resource.getrusage(resource.RUSAGE_SELF)
        wall.append(time.perf_counter() - start)
        system.append(after.ru_stime - before.ru_stime)
        faults.append(after.ru_minflt - before.ru_minflt)
    medians = [statistics.median(v) for v in (wall, system, faults)]
    print(json.dumps(dict(zip(("wall", "system", "faults"), medians, strict=True))))


def _median(children: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(c[key] for c in children) for key in children[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="vit_t,gmf_2282", help="comma-separated")
    parser.add_argument("--modes", default="forward,train", help="forward and/or train")
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per child")
    parser.add_argument("--children", type=int, default=2, help="children per setting")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--child", nargs=2, metavar=("ENCODER", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.rounds, args.threads)
        return

    console = Console()
    load_before = load_average()
    results: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    cases = [(n, m) for n in args.encoders.split(",") for m in args.modes.split(",")]
    with console.status("timing") as status:
        for i in range(args.children):
            for name, mode in cases:
                for setting, value in SETTINGS.items():
                    status.update(f"{name} {mode} {setting} ({i + 1}/{args.children})")
                    command = [sys.executable, __file__, "--child", name, mode]
                    done = subprocess.run(
                        [*command, f"--rounds={args.rounds}", f"--threads={args.threads}"],
                        env={**os.environ, "GMS_KEEP_FREED_MEMORY": value},
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    measured = json.loads(done.stdout.splitlines()[-1])
                    results.setdefault((name, mode, setting), []).append(measured)

    table = Table(
        title=f"Freed memory kept / handed back, {SIZE}², batch 1: median over children of "
        f"each child's median of {args.rounds} steps",
        caption=f"load average before {load_before}, after {load_average()}; "
        f"{args.threads} torch threads, {args.children} children per setting",
    )
    for column in ("encoder", "step", "kept ms", "unmapped ms", "ratio", "sys ms kept / unmapped"):
        table.add_column(column, justify="left" if column in ("encoder", "step") else "right")
    table.add_column("page faults kept / unmapped", justify="right")
    for name, mode in cases:
        kept, unmapped = (_median(results[(name, mode, s)]) for s in SETTINGS)
        table.add_row(
            name,
            mode,
            f"{1000 * kept['wall']:.0f}",
            f"{1000 * unmapped['wall']:.0f}",
            f"{kept['wall'] / unmapped['wall']:.2f}",
            f"{1000 * kept['system']:.0f} / {1000 * unmapped['system']:.0f}",
            f"{kept['faults']:.0f} / {unmapped['faults']:.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
