"""CPU timing of our MobileSAM (ViT-T) beside the official implementation's figures and, where
``ultralytics`` is importable (``uv run --with ultralytics``), our image encoder against
MobileSAM's own TinyViT code on the same weights, interleaved."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import torch
from _common import interleaved, load_average, time_round
from rich.console import Console
from rich.table import Table

from gms_models.encoders import inference_form
from gms_models.sam import SamPredictor, build_sam_vit_t
from gms_models.sam.tiny_vit import TinyViT

#: The official implementation on a 2-core AMD EPYC VM, 2 threads, torch 2.15.0, float32, idle.
OFFICIAL_SECONDS = {
    "encoder": 1.45,  # model.image_encoder(x) at 1024, median of 3 after 1 warm-up
    "decoder": 0.042,  # prompt_encoder + mask_decoder, one box, multimask, median of 10
    "predict": 0.046,  # predictor.predict(box, multimask) incl. upsampling to 480x640
}
BOX = np.array([76.53, 25.49, 597.89, 395.63], dtype=np.float32)  # box_A of 000000104455
ORIGINAL_SIZE = (480, 640)


def median_seconds(fn: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """Median and min wall time, and median process CPU time (all threads), of ``runs`` calls
    after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def official_encoder(ours: TinyViT) -> torch.nn.Module | None:
    """MobileSAM's TinyViT as ultralytics ships it, with ``ours``'s weights (its attention-bias
    cache is filled by the ``.eval()`` after loading); None without the package."""
    try:
        from ultralytics.models.sam.modules.tiny_encoder import TinyViT as OfficialTinyViT
    except ImportError:
        return None
    cfg = ours.config
    official = OfficialTinyViT(
        img_size=cfg.img_size,
        embed_dims=list(cfg.embed_dims),
        depths=list(cfg.depths),
        num_heads=list(cfg.num_heads),
        window_sizes=list(cfg.window_sizes),
        drop_path_rate=0.0,
        layer_lr_decay=0.8,
    )
    keys = official.load_state_dict(ours.state_dict(), strict=False)
    left_out = [k for k in keys.missing_keys if not k.startswith(("norm_head.", "head."))]
    if left_out or keys.unexpected_keys:  # only the classifier head, which ours has not, may differ
        raise RuntimeError(f"official TinyViT layout differs: {left_out + keys.unexpected_keys}")
    return official.eval()


def versus_official(ours: TinyViT, x: torch.Tensor, runs: int) -> Table | None:
    """Our encoder as loaded and deployed against the official code; None without ultralytics."""
    official = official_encoder(ours)
    if official is None:
        return None
    deployed = inference_form(ours)
    forwards = {"official": official, "ours": ours, "ours, deployed form": deployed}
    with torch.inference_mode():
        gap = (official(x) - deployed(x)).abs().max().item()
        calls = {name: (lambda m=m: m(x)) for name, m in forwards.items()}
        times = interleaved(lambda: time_round(calls), runs, warmup=1)
    median = {name: statistics.median(t) for name, t in times.items()}
    table = Table(
        title=f"Image encoder @1024 vs MobileSAM's TinyViT code, {runs} interleaved rounds",
        caption=f"largest feature difference, deployed form vs official: {gap:.1e}",
    )
    for column in ("encoder", "median (s)", "min (s)", "ratio to official"):
        table.add_column(column, justify="left" if column == "encoder" else "right")
    for name, seconds in median.items():
        ratio = seconds / median["official"]
        table.add_row(name, f"{seconds:.3f}", f"{min(times[name]):.3f}", f"{ratio:.2f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (official: 2)")
    parser.add_argument("--runs", type=int, default=3, help="timed encoder runs")
    parser.add_argument("--decoder-runs", type=int, default=10, help="timed decoder runs")
    parser.add_argument("--checkpoint", type=Path, help="mobile_sam.pt-layout weights (optional)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    load_before = load_average()
    sam = build_sam_vit_t(checkpoint=args.checkpoint)
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0))
    predictor = SamPredictor(sam)

    with torch.inference_mode():
        encoder = median_seconds(lambda: sam.image_encoder(x), args.runs)
        predictor.set_features(sam.image_encoder(x), ORIGINAL_SIZE)
        features = predictor.get_image_embedding()
        scale = 1024 / max(ORIGINAL_SIZE)
        box = torch.as_tensor(BOX[None] * scale, dtype=torch.float32)
        decoder = median_seconds(
            lambda: sam.decode(features, boxes=box, multimask_output=True), args.decoder_runs
        )
        predict = median_seconds(lambda: predictor.predict(box=BOX), args.decoder_runs)
    load_after = load_average()

    table = Table(
        title=f"MobileSAM ViT-T on CPU, float32, {torch.get_num_threads()} torch threads",
        caption=(
            f"load average (1/5/15 min) before {load_before}; after {load_after}; "
            f"{os.cpu_count()} CPUs"
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
    encoder_table = versus_official(cast(TinyViT, sam.image_encoder), x, args.runs)
    console.print(
        encoder_table or "ultralytics is not installed: no side-by-side run of the official code"
    )


if __name__ == "__main__":
    main()
