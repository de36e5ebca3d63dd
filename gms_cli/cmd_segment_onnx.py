"""``gms segment-onnx --onnx DIR``: ``gms segment`` with an export folder instead of PyTorch.

The prompts, the outputs and their layout are those of ``gms segment`` (its core is reused); the
encoder and decoder run under ONNX Runtime or TensorRT through :mod:`gms_models.runtime`. It is a
command of its own so that ``gms segment`` (owned by the SAM module) stays unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gms_cli.cmd_sam import CONVERSION_NOTE, parse_prompts, segment, write_segment_outputs


def segment_onnx_command(
    onnx: Annotated[Path, typer.Option("--onnx", help="Export folder written by `gms export`.")],
    image: Annotated[Path, typer.Option("--image", help=f"Input image (RGB). {CONVERSION_NOTE}")],
    out: Annotated[Path, typer.Option("--out", help="Output .npz (masks, IoU, low-res logits).")],
    box: Annotated[
        list[str] | None,
        typer.Option("--box", help="Box X0,Y0,X1,Y1 in image pixels; repeat for several boxes."),
    ] = None,
    point: Annotated[
        list[str] | None,
        typer.Option("--point", help="Point X,Y[,LABEL] (1 foreground, default; 0 background)."),
    ] = None,
    multimask: Annotated[
        bool, typer.Option("--multimask", help="Three masks per prompt instead of one.")
    ] = False,
    mask_input: Annotated[
        Path | None,
        typer.Option("--mask-input", help="Low-res logits .npy (1,256,256) to refine a mask."),
    ] = None,
    overlay: Annotated[
        Path | None, typer.Option("--overlay", help="Also write a PNG of the masks on the image.")
    ] = None,
    runtime: Annotated[
        str, typer.Option("--runtime", help="onnxruntime (CPU) or tensorrt (GPU).")
    ] = "onnxruntime",
    precision: Annotated[
        str | None,
        typer.Option("--precision", help="Encoder file: fp32, int8 (ONNX Runtime) or fp16 (TRT)."),
    ] = None,
) -> None:
    """Segment an image with box and/or point prompts using exported files only."""
    from gms_models.errors import ConfigError
    from gms_models.image_io import load_rgb
    from gms_models.runtime import BundlePredictor

    if runtime not in ("onnxruntime", "tensorrt"):
        raise ConfigError(f"--runtime must be onnxruntime or tensorrt, got {runtime!r}")
    if precision not in (None, "fp32", "fp16", "int8"):
        raise ConfigError(f"--precision must be fp32, fp16 or int8, got {precision!r}")
    console = Console(stderr=True)
    prompts = parse_prompts(box or [], point or [], mask_input)
    rgb = load_rgb(image)
    with console.status(f"opening {onnx}"):
        predictor = BundlePredictor.from_folder(
            onnx,
            runtime=runtime,  # type: ignore[arg-type]
            encoder_precision=precision,  # type: ignore[arg-type]
        )
    with console.status(f"encoding {image.name}"):
        predictor.set_image(rgb)
    prediction = segment(predictor, prompts, multimask)
    arrays = write_segment_outputs(prediction, out, image=rgb, prompts=prompts, overlay=overlay)
    table = Table(title=f"{len(arrays['masks'])} masks → {out}")
    for column in ("prompt", "mask", "IoU prediction", "pixels"):
        table.add_column(column, justify="right")
    for i, (p, iou, mask) in enumerate(
        zip(arrays["prompt_index"], arrays["iou_predictions"], arrays["masks"], strict=True)
    ):
        table.add_row(str(p), str(i), f"{iou:.3f}", str(int(mask.sum())))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("segment-onnx")(segment_onnx_command)
