"""``gms export``: an encoder and SAM's prompt decoder to a folder of checked ONNX files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gms_models.errors import ConfigError
from gms_models.runtime.manifest import OnnxProfile


def export_command(
    arch: Annotated[str, typer.Option(help="Registered encoder name, e.g. gmf_2282.")],
    out: Annotated[Path, typer.Option(help="Output folder (new, empty or an export).")],
    student: Annotated[
        Path | None, typer.Option(help="Student checkpoint (student.pt/last.pt).")
    ] = None,
    teacher: Annotated[
        Path | None, typer.Option(help="mobile_sam.pt-layout checkpoint (exports --arch vit_t).")
    ] = None,
    decoder_checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="mobile_sam.pt-layout checkpoint for the prompt encoder and mask decoder of a "
            "--student export (a --teacher export takes them from the teacher)."
        ),
    ] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset (13..20).")] = 17,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="Encoder batch dimension dynamic (else 1).")
    ] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="TensorRT engines in fp16.")] = False,
    tensorrt: Annotated[
        bool, typer.Option("--tensorrt", help="Also build TensorRT engines (needs a GPU).")
    ] = False,
    int8_calib: Annotated[
        Path | None, typer.Option(help="Folder of images: also write an INT8 encoder.")
    ] = None,
    int8_max_images: Annotated[int, typer.Option(help="Calibration images used at most.")] = 16,
    img_size: Annotated[
        int | None, typer.Option(help="Input side S (teacher: default 1024; student: its own).")
    ] = None,
    parity_image: Annotated[
        Path | None, typer.Option(help="Real image for the parity runs (default: built-in).")
    ] = None,
    ort_threads: Annotated[
        int | None, typer.Option(help="ONNX Runtime intra-op threads (default: cores less one).")
    ] = None,
    ort_spinning: Annotated[
        bool, typer.Option("--ort-spinning", help="ONNX Runtime threads spin between ops.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export in --out.")
    ] = False,
    profile: Annotated[
        OnnxProfile,
        typer.Option(
            help="nanosam: encoder at its own size + 5-input decoders (TensorRT consumers); sam: "
            "the SAM-standard encoder and single-/multimask decoders at 1024 that SAM tools run."
        ),
    ] = "nanosam",
) -> None:
    """Export an image encoder and SAM's prompt decoder to checked ONNX (and TensorRT) files."""
    from gms_models.export import export_bundle, student_sources, teacher_sources
    from gms_models.image_io import load_rgb
    from gms_models.runtime import OrtSettings

    if (student is None) == (teacher is None):
        raise ConfigError("give exactly one of --student CKPT or --teacher CKPT")
    if teacher is not None and decoder_checkpoint is not None:
        raise ConfigError("--decoder-checkpoint is for --student exports; a teacher has its own")
    console = Console(stderr=True)
    image = None if parity_image is None else load_rgb(parity_image)
    with console.status("loading the checkpoint") as status:
        if teacher is not None:
            sources = teacher_sources(arch, teacher, img_size or 1024)
        else:
            assert student is not None
            sources = student_sources(arch, student, img_size, decoder_checkpoint)
        if not sources.has_decoder:
            console.print(
                "[yellow]note:[/] no --decoder-checkpoint: exporting the encoder only", style=None
            )
        result = export_bundle(
            out,
            sources,
            opset=opset,
            dynamic_batch=dynamic_batch,
            tensorrt=tensorrt,
            fp16=fp16,
            int8_calib=int8_calib,
            int8_max_images=int8_max_images,
            parity_image=image,
            ort_settings=OrtSettings(threads=ort_threads, spinning=ort_spinning),
            overwrite=overwrite,
            progress=lambda msg: status.update(msg),
            profile=profile,
        )
    table = Table(title=f"{sources.arch} at {result.manifest.img_size} → {result.folder}")
    table.add_column("file", overflow="fold")
    for column in ("precision", "MB", "max rel. L2 (vs)"):
        table.add_column(column, justify="right")
    for art in result.manifest.artifacts:
        meta = result.results[art.file].metadata
        parity = meta["parity"]
        table.add_row(
            art.file,
            art.precision,
            f"{meta['bytes'] / 1e6:.1f}",
            f"{parity['max_error']:.2e} ({parity['reference']})",
        )
    Console().print(table)


COMMANDS = {"export": export_command}
