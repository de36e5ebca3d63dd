"""``gms distill-group``: several students at once, one teacher pass per batch for all."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from gms_cli.model_options import model_options
from gms_models.errors import ConfigError, validate
from gms_models.tables import format_lr
from gms_models.train.config import (
    Arm,
    Arms,
    DistillConfig,
    DistillSettings,
    arm_config,
    read_yaml_mapping,
)

if TYPE_CHECKING:
    from gms_models.train import Assignment, DistillResult

DEFAULT_LR = DistillSettings.model_fields["lr"].default


class GroupFile(BaseModel):
    """The ``arms`` of a ``--config`` file."""

    arms: Arms


GIB = 2**30
#: The DistillSettings fields that are options of ``gms distill-group`` (shared by every arm).
SHARED_OPTIONS = (
    "images", "teacher", "teacher_backend", "epochs", "batch_size", "lr", "img_size",
    "teacher_size", "resume", "seed", "num_workers", "device",
)  # fmt: skip


def parse_arm(spec: str) -> tuple[str | None, Arm]:
    """``[NAME=]ARCH[:LR]`` → the arm's name (None when not given) and the arm."""
    name, _, rest = spec.rpartition("=")
    arch, _, lr = rest.partition(":")
    if not arch:
        raise ConfigError(f"--arm {spec!r}: expected [NAME=]ARCH[:LR], e.g. gmf_2282:1e-3")
    try:
        rate = float(lr) if lr else None
    except ValueError:
        raise ConfigError(f"--arm {spec!r}: learning rate {lr!r} is not a number") from None
    return name or None, validate(Arm, {"arch": arch, "lr": rate}, f"--arm {spec!r}")


def name_arms(arms: list[tuple[str | None, Arm]], default_lr: float) -> Arms:
    """Name unnamed arms: the arch, plus ``-lr<lr>`` when another arm has the same arch."""
    archs = [arm.arch for _, arm in arms]
    named: Arms = {}
    for name, arm in arms:
        if name is None:
            name = str(arm.arch)
            if archs.count(arm.arch) > 1:
                name += f"-lr{format_lr(arm.lr or default_lr)}"
        named[name] = arm
    return named


def build_configs(
    values: dict[str, Any], arms: Arms, out: Path, source: str
) -> list[DistillConfig]:
    """One config per arm: the shared values, then the arm's own; out_dir ``out/<name>``."""
    if not arms:
        raise ConfigError(f"no arms given in {source}: pass --arm ARCH[:LR] (repeatable)")
    shared = {k: v for k, v in values.items() if k in DistillSettings.model_fields}
    settings = validate(DistillSettings, shared, f"shared settings in {source}")
    own = {k: v for k, v in values.items() if k not in DistillSettings.model_fields}
    return [
        arm_config(name, arm, settings, **{"out_dir": out / name, **own})
        for name, arm in arms.items()
    ]


def plan_table(assignments: list[Assignment]) -> Table:
    table = Table(title="training plan: one run per part, one teacher pass per batch for its arms")
    for column in ("part", "device", "arms", "estimated GiB", "budget GiB", "fits"):
        table.add_column(column)
    for index, assignment in enumerate(assignments, 1):
        table.add_row(
            str(index),
            f"{assignment.device.name} ({assignment.device.description})",
            ", ".join(assignment.names),
            f"{assignment.estimated_bytes / GIB:.2f}",
            f"{assignment.budget_bytes / GIB:.2f}",
            "yes" if assignment.fits else "[red]no[/]",
        )
    return table


def results_table(results: list[tuple[DistillConfig, DistillResult]]) -> Table:
    table = Table(title="results")
    for column in ("arm", "arch", "lr", "epochs", "last loss", "status", "student checkpoint"):
        table.add_column(column)
    for config, result in results:
        status = "ok" if result.failure is None else f"[red]failed:[/] {result.failure}"
        table.add_row(
            result.name,
            result.arch,
            format_lr(config.lr),
            f"{result.epochs_completed}/{config.epochs}",
            f"{result.last_loss:.6f}",
            status,
            str(result.checkpoint),
        )
    return table


@model_options(DistillConfig, SHARED_OPTIONS)
def distill_group_command(
    overrides: dict[str, Any],
    arm: Annotated[
        list[str] | None,
        typer.Option(
            help="An arm: [NAME=]ARCH[:LR], repeatable (e.g. --arm gmf_2282:3e-4 --arm "
            "gmf_2282:1e-3 --arm resnet18). Unnamed arms are named by arch, plus -lr<LR> when "
            "two share an arch. Replaces the arms of --config."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML file: shared DistillConfig fields plus 'arms', a mapping of arm names to "
            "{arch, lr, epochs}, at the top level or under 'distill_group'. Options given here "
            "override the shared fields."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Base folder: each arm trains into <out>/<arm name>.")
    ] = Path("runs/distill"),
    cpu_memory_gb: Annotated[
        float | None,
        typer.Option(help="Memory budget of the CPU for packing. (default: half the RAM)"),
    ] = None,
    headroom: Annotated[
        float, typer.Option(help="Fraction of a device's memory the estimates may fill.")
    ] = 0.9,
    plan: Annotated[
        bool, typer.Option("--plan", help="Print the grouping and packing plan and stop.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show progress with every arm's loss.")] = True,
) -> None:
    """Train several student encoders together: per batch one teacher pass, one step per arm.

    Arms sharing the data recipe (images, teacher and its size, crops, student size, batch size,
    epochs, seed) train in one run; each keeps its own optimiser, lr, run folder, checkpoints
    (<out>/<arm>/last.pt, student.pt), loss history and feature pictures, with the weights it
    would have had alone. Groups too large for a device's memory (estimated per arm) are split.
    An arm whose loss goes non-finite is dropped and recorded (<out>/<arm>/failure.json) while
    the others go on; the exit status is then 1.
    """
    from gms_models.train import detect_devices, distill, group_by_recipe, pack_groups

    values: dict[str, Any] = {}
    named: Arms = {}
    source = "the command line"
    if config is not None:
        values = read_yaml_mapping(config)
        values = dict(values.get("distill_group", values))
        named = validate(GroupFile, {"arms": values.pop("arms", {})}, f"arms in {config}").arms
        source = str(config)
    values.update(overrides)
    if arm:
        named = name_arms([parse_arm(spec) for spec in arm], values.get("lr", DEFAULT_LR))
    configs = build_configs(values, named, out, source)

    cpu_budget = int(cpu_memory_gb * GIB) if cpu_memory_gb is not None else None
    devices = detect_devices(configs[0].device, cpu_memory_bytes=cpu_budget)
    assignments = pack_groups(group_by_recipe(configs), devices, headroom=headroom)
    console = Console(soft_wrap=True)
    console.print(plan_table(assignments))
    if plan:
        return
    finished: list[tuple[DistillConfig, DistillResult]] = []
    for assignment in assignments:
        results = distill(
            list(assignment.configs), device=assignment.device.name, progress=progress
        )
        finished.extend(zip(assignment.configs, results, strict=True))
    console.print(results_table(finished))
    if any(result.failure is not None for _, result in finished):
        raise typer.Exit(1)


COMMANDS = {"distill-group": distill_group_command}
