"""CPU timing of our MobileSAM (ViT-T) beside the official implementation's figures.

Run: ``uv run python benchmarks/bench_sam.py [--threads 2] [--runs 3] [--decoder-runs 10]``.

The official figures (reference README) were taken on a 2-core AMD EPYC VM with 2 torch threads,
torch 2.15.0, float32, on an otherwise idle machine. Other processes slow these timings down
2-5x, so the load average is printed before and after, and the encoder is also timed,
interleaved in the same run, against the *official sequence of operations*: our encoder with the
official attention (explicit ``q kᵀ`` + bias, softmax, ``@ v``) and un-folded Conv+BatchNorm, which
measured 1.00× the official implementation's time (issue 16). Their ratio is the speed-up of the
fused attention and the eval-time BatchNorm folding.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from gms_models.sam import SamPredictor, build_sam_vit_t
from gms_models.sam.tiny_vit import Attention, Conv2dBN

OFFICIAL_SECONDS = {
    "encoder": 1.45,  # model.image_encoder(x) at 1024, median of 3 after 1 warm-up
    "decoder": 0.042,  # prompt_encoder + mask_decoder, one box, multimask, median of 10
    "predict": 0.046,  # predictor.predict(box, multimask) incl. upsampling to 480x640
}
BOX = np.array([76.53, 25.49, 597.89, 395.63], dtype=np.float32)  # box_A of 000000104455
ORIGINAL_SIZE = (480, 640)


def median_seconds(
    fn: Callable[[], object], runs: int, warmup: int = 1
) -> tuple[float, float, float]:
    """Median and min wall time, and median process CPU time, of ``runs`` calls after warm-up.

    CPU time counts every thread of this process; with 1 thread it is close to what the wall
    time would be on an idle machine.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def _official_attention(self: Attention, x: torch.Tensor) -> torch.Tensor:
    b, n, c = x.shape
    qkv = self.qkv(self.norm(x)).view(b, n, self.num_heads, 3 * self.key_dim)
    q, k, v = (t.permute(0, 2, 1, 3) for t in qkv.split(self.key_dim, dim=3))
    bias = self.attention_biases.index_select(1, self.attention_bias_idxs.flatten())
    attn = (q @ k.transpose(-2, -1)) * self.key_dim**-0.5 + bias.view(self.num_heads, n, n)
    return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c))


def official_sequence(encoder: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``encoder`` running the official operations (see the module docstring)."""
    baseline = copy.deepcopy(encoder)
    for module in baseline.modules():
        if isinstance(module, Attention):
            module.forward = _official_attention.__get__(module)  # type: ignore[method-assign]
        elif isinstance(module, Conv2dBN):
            module.forward = torch.nn.Sequential.forward.__get__(module)  # type: ignore[method-assign]
    return baseline


def interleaved_medians(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each function, one call of each per round, after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(runs + 1):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (official: 2)")
    parser.add_argument("--runs", type=int, default=3, help="timed encoder runs")
    parser.add_argument("--decoder-runs", type=int, default=10, help="timed decoder runs")
    parser.add_argument("--checkpoint", type=Path, help="mobile_sam.pt-layout weights (optional)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    sam = build_sam_vit_t(checkpoint=args.checkpoint)
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0))
    predictor = SamPredictor(sam)

    baseline = official_sequence(sam.image_encoder)

    with torch.inference_mode():
        side_by_side = interleaved_medians(
            {"ours": lambda: sam.image_encoder(x), "official": lambda: baseline(x)}, args.runs
        )
        encoder = median_seconds(lambda: sam.image_encoder(x), args.runs)
        predictor.set_features(sam.image_encoder(x), ORIGINAL_SIZE)
        features = predictor.get_image_embedding()
        scale = 1024 / max(ORIGINAL_SIZE)
        box = torch.as_tensor(BOX[None] * scale, dtype=torch.float32)
        decoder = median_seconds(
            lambda: sam.decode(features, boxes=box, multimask_output=True), args.decoder_runs
        )
        predict = median_seconds(lambda: predictor.predict(box=BOX), args.decoder_runs)
    load_after = os.getloadavg()

    table = Table(
        title=f"MobileSAM ViT-T on CPU, float32, {torch.get_num_threads()} torch threads",
        caption=(
            f"load average (1/5/15 min) before {', '.join(f'{v:.2f}' for v in load_before)}; "
            f"after {', '.join(f'{v:.2f}' for v in load_after)}; {os.cpu_count()} CPUs"
        ),
    )
    table.add_column("step")
    for column in ("ours median (s)", "ours min (s)", "ours CPU (s)", "official (s)", "ratio"):
        table.add_column(column, justify="right")
    rows = [
        (f"image encoder @1024 ({args.runs} runs)", encoder, "encoder"),
        (f"prompt enc. + decoder, 1 box ({args.decoder_runs})", decoder, "decoder"),
        (f"predict(box) + upsampling ({args.decoder_runs})", predict, "predict"),
    ]
    for label, (median, best, cpu), key in rows:
        official = OFFICIAL_SECONDS[key]
        table.add_row(
            label,
            f"{median:.3f}",
            f"{best:.3f}",
            f"{cpu:.3f}",
            f"{official:.3f}",
            f"{median / official:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"image encoder, interleaved ({args.runs} rounds): ours {side_by_side['ours']:.3f} s, "
        f"official sequence of operations {side_by_side['official']:.3f} s, "
        f"ratio {side_by_side['ours'] / side_by_side['official']:.2f}"
    )


if __name__ == "__main__":
    main()
