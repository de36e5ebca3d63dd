"""``gms distill``: distil a student encoder from the SAM teacher (decoupled, nanosam recipe)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console


def distill_command(
    arch: Annotated[
        str | None, typer.Option(help="Student encoder registry name, e.g. gmf_2282.")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Run name (e.g. gmf_2282-lr1e-3). (default: the arch)"),
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Folder of training images (searched recursively).")
    ] = None,
    teacher: Annotated[
        Path | None, typer.Option(help="Teacher checkpoint in the mobile_sam.pt layout.")
    ] = None,
    teacher_backend: Annotated[
        Literal["auto", "torch", "onnxruntime", "tensorrt"] | None,
        typer.Option(
            help="Teacher runtime; auto = tensorrt on CUDA if installed, else onnxruntime, "
            "else torch. (default: auto)",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs. (default: 13)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size. (default: 8)")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate. (default: 3e-4)")] = None,
    img_size: Annotated[
        int | None, typer.Option(help="Student input side. (default: 1024)")
    ] = None,
    teacher_size: Annotated[
        int | None, typer.Option(help="Teacher input side. (default: --img-size)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder. (default: runs/distill/<name>)")
    ] = None,
    resume: Annotated[
        bool | None, typer.Option("--resume", help="Continue from <out>/last.pt.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed. (default: 0)")] = None,
    on_error: Annotated[
        Literal["fail", "skip"] | None,
        typer.Option(
            help="Unreadable images: stop, or skip and report them. (default: fail)",
        ),
    ] = None,
    num_workers: Annotated[
        int | None, typer.Option(help="Data-loader worker processes. (default: 2)")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda or cuda:N. (default: auto)")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML file of DistillConfig fields (or with a 'distill' section, as in "
            "params.yaml); options given here override it."
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a student encoder to reproduce the teacher's image features (Huber loss).

    Writes <out>/last.pt (training state, every epoch), <out>/student.pt (weights) and
    <out>/features/epoch_NNN.png (teacher vs student feature maps). To train several students
    over one teacher pass, see `gms distill-group`.
    """
    from gms_models.train import DistillConfig, distill

    overrides: dict[str, Any] = {
        "arch": arch,
        "name": name,
        "images": images,
        "teacher": teacher,
        "teacher_backend": teacher_backend,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "img_size": img_size,
        "teacher_size": teacher_size,
        "out_dir": out,
        "resume": resume,
        "seed": seed,
        "on_error": on_error,
        "num_workers": num_workers,
        "device": device,
    }
    if config is not None:
        section = _config_section(config)
        run_config = DistillConfig.from_yaml(config, section=section, overrides=overrides)
    else:
        given = {k: v for k, v in overrides.items() if v is not None}
        run_config = DistillConfig.from_mapping(given, source="the command line")
    (result,) = distill([run_config], progress=progress, raise_if_all_failed=True)
    console = Console(soft_wrap=True)
    console.print(f"student checkpoint: {result.checkpoint}")
    console.print(
        f"epochs {result.epochs_completed}, last loss {result.last_loss:.6f}, "
        f"images seen {result.images_seen}, wall time {result.wall_time_s:.1f} s"
    )
    if result.skipped_images:
        console.print(f"[yellow]skipped {len(result.skipped_images)} unreadable images:[/]")
        for bad in result.skipped_images:
            console.print(f"  {bad.path}: {bad.reason}", highlight=False)


def _config_section(path: Path) -> str | None:
    """``distill`` when the YAML file has such a section (params.yaml), else None."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None  # DistillConfig.from_yaml reports the problem with the file
    return "distill" if isinstance(data, dict) and "distill" in data else None


def register(app: typer.Typer) -> None:
    app.command("distill")(distill_command)
