"""``gms distill``: distil a student encoder from the SAM teacher (decoupled, nanosam recipe)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from gms_cli.model_options import model_options
from gms_models.train.config import DistillConfig, read_yaml_mapping

DISTILL_OPTIONS = (
    "arch", "name", "images", "teacher", "teacher_backend", "epochs", "batch_size", "lr",
    "img_size", "teacher_size", "out_dir", "resume", "seed", "on_error", "num_workers", "device",
)  # fmt: skip


@model_options(DistillConfig, DISTILL_OPTIONS, flags={"out_dir": "--out"})
def distill_command(
    overrides: dict[str, Any],
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
    from gms_models.train import distill

    if config is not None:
        section = "distill" if "distill" in read_yaml_mapping(config) else None
        run_config = DistillConfig.from_yaml(config, section=section, overrides=overrides)
    else:
        run_config = DistillConfig.from_mapping(overrides, source="the command line")
    (result,) = distill([run_config], progress=progress, raise_if_all_failed=True)
    console = Console(soft_wrap=True)
    console.print(f"student checkpoint: {escape(str(result.checkpoint))}", highlight=False)
    console.print(
        f"epochs {result.epochs_completed}, last loss {result.last_loss:.6f}, "
        f"images seen {result.images_seen}, wall time {result.wall_time_s:.1f} s"
    )
    if result.skipped_images:
        console.print(f"[yellow]skipped {len(result.skipped_images)} unreadable images:[/]")
        for bad in result.skipped_images:
            console.print(f"  {escape(str(bad.path))}: {escape(bad.reason)}", highlight=False)


COMMANDS = {"distill": distill_command}
