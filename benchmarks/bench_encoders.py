"""CPU latency of every registered encoder at 1024, batch 1, as a ratio to ViT-T in the same run.

    uv run python benchmarks/bench_encoders.py [--runs 5] [--warmup 1] [--img-size 1024] \
        [--threads N]

Rounds are interleaved (one forward of each encoder per round). On a shared machine compare
``--threads 1`` too: models of many small ops (GroupMixFormer) suffer more from preempted threads.
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
from _common import interleaved, load_average, time_round
from rich.console import Console
from rich.table import Table

from gms_models.profiling import profile_model
from gms_models.registry import build_encoder, list_encoders

REFERENCE = "vit_t"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--img-size", type=int, default=1024)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    console = Console()
    names = list_encoders()
    console.print(
        f"encoders: {', '.join(names)}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"load average before: {load_average()}"
    )
    models = {name: build_encoder(name, img_size=args.img_size).eval() for name in names}
    macs = {}
    for name in names:
        with torch.device("meta"):
            macs[name] = profile_model(build_encoder(name, img_size=args.img_size), args.img_size)
    x = torch.randn(1, 3, args.img_size, args.img_size)
    forwards = {name: (lambda m=model: m(x)) for name, model in models.items()}
    status = f"timing {len(names)} encoders, {args.warmup}+{args.runs} rounds"
    with console.status(status), torch.inference_mode():
        times = interleaved(lambda: time_round(forwards), args.runs, args.warmup)
    load_after = load_average()

    median = {name: statistics.median(t) for name, t in times.items()}
    table = Table(
        title=f"CPU latency at {args.img_size}×{args.img_size}, batch 1, median of {args.runs}",
        caption=f"load average after: {load_after}",
    )
    for column in ("encoder", "MACs (M)", "median (ms)", "min (ms)", "max (ms)"):
        table.add_column(column, justify="left" if column == "encoder" else "right")
    table.add_column(f"latency / {REFERENCE}", justify="right")
    table.add_column(f"MACs / {REFERENCE}", justify="right")
    for name in sorted(names, key=median.get):
        table.add_row(
            name,
            f"{macs[name].macs / 1e6:.2f}",
            f"{1000 * median[name]:.0f}",
            f"{1000 * min(times[name]):.0f}",
            f"{1000 * max(times[name]):.0f}",
            f"{median[name] / median[REFERENCE]:.3f}",
            f"{macs[name].macs / macs[REFERENCE].macs:.3f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
