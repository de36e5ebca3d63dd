"""Encoder latency, batch 1 at 1024: PyTorch eager vs ONNX Runtime fp32 (and INT8) on this CPU,
and TensorRT fp16 where a GPU is present, as ratios to ViT-T in the same run (README, Benchmarks).
Random weights; PyTorch runs the deployed form, ONNX Runtime the shipped session settings."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from _common import cpu_description, interleaved, time_round
from rich.console import Console
from rich.table import Table

from gms_models.encoders import inference_form
from gms_models.export import default_parity_image, export_encoder_onnx, library_versions
from gms_models.export.onnx_decoder import export_decoder_onnx
from gms_models.export.onnx_encoder import REAL_IMAGE_CASE
from gms_models.export.quantize import quantize_encoder_int8
from gms_models.registry import build_encoder, list_encoders
from gms_models.runtime import OnnxRuntimeSession, OrtSettings
from gms_models.runtime.manifest import ENCODER_OUTPUT
from gms_models.runtime.sessions import WARMUP_RUNS
from gms_models.sam import build_sam_vit_t

REFERENCE = "vit_t"
REFERENCE_AGAIN = f"{REFERENCE} again"
"""A second ORT session of the reference's file: its ratio to the first is this run's noise
floor (where each session's buffers landed, and what else ran), beside the ratios it qualifies."""
SIZE = 1024
BUSY = "+busy"

Forward = Callable[[], object]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _start_spinner() -> subprocess.Popen[bytes]:
    """Keep one core busy, as another program would: a fresh interpreter, not a fork (a forked
    child shares the benchmark's pages copy-on-write, so every page the encoder writes while it
    lives faults: that, not the busy core, made gmf_2282 1.34x slower at 1 thread), in a session
    of its own (Linux's autogroup scheduler shares CPU between sessions first)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)


def prepare(
    names: list[str],
    folder: Path,
    ort: OrtSettings,
    calib: Path | None,
    calib_images: int,
    say: Callable[[str], object],
) -> tuple[dict[tuple[str, str], Forward], dict[str, str], dict[str, float]]:
    """Forward callables per (encoder, runtime), the reason for each one that is missing, and
    the INT8 mIoU cost per encoder."""
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    x_np = x.numpy()
    image = default_parity_image()
    try:
        from gms_models.export.tensorrt import require_tensorrt

        require_tensorrt()
        use_trt = True
    except Exception:  # any missing piece (package, cuda-python, GPU) means: no TensorRT column
        use_trt = False
    forwards: dict[tuple[str, str], Forward] = {}
    skipped: dict[str, str] = {}
    miou_cost: dict[str, float] = {}
    decoder: Path | None = None
    for name in names:
        torch.manual_seed(0)
        model = build_encoder(name, img_size=SIZE).eval()
        forwards[(name, "torch")] = lambda m=inference_form(model): m(x)
        say(f"exporting {name}")
        try:
            exported = export_encoder_onnx(
                model, folder / f"{name}.onnx", arch=name, img_size=SIZE, parity_image=image
            )
        except Exception as exc:  # recorded in the output, the other encoders still run
            skipped[f"{name}/onnxruntime"] = f"export failed: {exc}"
            continue
        session = OnnxRuntimeSession(exported.path, settings=ort)
        forwards[(name, "ort_fp32")] = lambda s=session: s.run({"image": x_np})
        if name == REFERENCE:
            again = OnnxRuntimeSession(exported.path, settings=ort)
            forwards[(REFERENCE_AGAIN, "ort_fp32")] = lambda s=again: s.run({"image": x_np})
        if calib is not None:
            if decoder is None:
                say("exporting a decoder for the INT8 mIoU cost")
                torch.manual_seed(0)  # a seeded random-weight single-mask decoder
                sam = build_sam_vit_t(img_size=SIZE).eval()
                decoder = export_decoder_onnx(
                    sam.prompt_encoder,
                    sam.mask_decoder,
                    folder / "mask_decoder.single.onnx",
                    multimask_output=False,
                    image_embedding=exported.reference_outputs[REAL_IMAGE_CASE][ENCODER_OUTPUT],
                    arch=REFERENCE,
                ).path
            say(f"quantising {name}")
            q = quantize_encoder_int8(
                exported,
                folder / f"{name}.int8.onnx",
                calib,
                max_images=calib_images,
                decoder_onnx=decoder,
            )
            miou_cost[name] = float(q.metadata["miou_cost"])  # type: ignore[arg-type]
            q_session = OnnxRuntimeSession(q.path, settings=ort)
            forwards[(name, "ort_int8")] = lambda s=q_session: s.run({"image": x_np})
        if use_trt:
            from gms_models.export.tensorrt import encoder_profile, export_tensorrt_engine
            from gms_models.runtime import TensorRTSession

            say(f"building the TensorRT fp16 engine of {name}")
            engine = export_tensorrt_engine(
                exported,
                folder / f"{name}.fp16.engine",
                precision="fp16",
                profile=encoder_profile(SIZE, dynamic_batch=False),
            )
            trt_session = TensorRTSession(engine.path)
            forwards[(name, "trt_fp16")] = lambda s=trt_session: s.run({"image": x_np})
    if not use_trt:
        skipped["tensorrt"] = "no TensorRT + CUDA GPU here"
    return forwards, skipped, miou_cost


@torch.inference_mode()
def busy_round(
    forwards: dict[tuple[str, str], Forward], busy: bool
) -> dict[tuple[str, str], float]:
    """One round of ``forwards``; with ``busy``, then the ``ort_fp32`` forwards again while a
    competing process spins (keys ``(name, "ort_fp32+busy")``)."""
    measured = time_round(forwards)
    contended = {(n, r + BUSY): f for (n, r), f in forwards.items() if busy and r == "ort_fp32"}
    if contended:
        neighbour = _start_spinner()
        try:
            measured |= time_round(contended)
        finally:
            neighbour.kill()
            neighbour.wait()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=WARMUP_RUNS,
        help="untimed rounds first (an ORT session pages its memory in over its first two runs)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads, torch and ORT")
    parser.add_argument("--spinning", action="store_true", help="ORT worker threads spin")
    parser.add_argument("--busy", action="store_true", help="also time ORT fp32 beside a spinner")
    parser.add_argument("--encoders", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--int8-calib", type=Path, default=None, help="image folder: add INT8")
    parser.add_argument("--int8-images", type=int, default=4, help="calibration images")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    console = Console()
    names = [n for n in args.encoders.split(",") if n] or list_encoders()
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp, console.status("preparing") as status:
        forwards, skipped, miou_cost = prepare(
            names,
            Path(tmp),
            OrtSettings(threads=args.threads, spinning=args.spinning),
            args.int8_calib,
            args.int8_images,
            status.update,
        )
        status.update(f"timing {len(forwards)} forwards, {args.warmup}+{args.runs} rounds")
        times = interleaved(lambda: busy_round(forwards, args.busy), args.runs, args.warmup)
    load_after = _load()

    median = {key: statistics.median(t) for key, t in times.items()}
    runtimes = [
        r
        for r in ("torch", "ort_fp32", "ort_fp32" + BUSY, "ort_int8", "trt_fp16")
        if any(k[1] == r for k in median)
    ]
    spin = "on" if args.spinning else "off"
    table = Table(
        title=f"Latency at {SIZE}, batch 1, median of {args.runs}: ms (ratio to {REFERENCE})",
        caption=f"{cpu_description()}; load average before {load_before}, after {load_after}; "
        f"{args.threads} threads, ORT spinning {spin}",
    )
    table.add_column("encoder")
    for runtime in runtimes:
        table.add_column(runtime, justify="right")
    if args.busy:
        table.add_column("busy / quiet (ort_fp32)", justify="right")
    if miou_cost:
        table.add_column("int8 mIoU cost", justify="right")
    rows = []
    noise_floor = [REFERENCE_AGAIN] if (REFERENCE_AGAIN, "ort_fp32") in median else []
    for name in names + noise_floor:
        cells = []
        for runtime in runtimes:
            value = median.get((name, runtime))
            ref = median.get((REFERENCE, runtime))
            ratio = None if value is None or ref is None else value / ref
            rows.append(
                {
                    "encoder": name,
                    "runtime": runtime,
                    "median_s": value,
                    "ratio_to_vit_t": ratio,
                    "runs_s": times.get((name, runtime)),
                }
            )
            cells.append(
                "-"
                if value is None
                else f"{1000 * value:.0f}" + ("" if ratio is None else f" ({ratio:.2f})")
            )
        busy = median.get((name, "ort_fp32" + BUSY))
        if args.busy:
            cells.append("-" if busy is None else f"{busy / median[(name, 'ort_fp32')]:.2f}")
        if miou_cost:
            cells.append(f"{miou_cost[name]:.4f}" if name in miou_cost else "-")
        table.add_row(name, *cells)
    console.print(table)
    for what, why in skipped.items():
        console.print(f"[yellow]skipped[/] {what}: {why}")
    if args.json is not None:
        report = {
            "img_size": SIZE,
            "batch": 1,
            "runs": args.runs,
            "warmup": args.warmup,
            "threads": args.threads,
            "ort_spinning": args.spinning,
            "int8_miou_cost": miou_cost,
            "cpu": cpu_description(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "versions": library_versions(),
            "results": rows,
            "skipped": skipped,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
