"""``gms distill-group``: distil several students at once, one teacher pass per batch for all.

Arms come from ``--arm`` options or from the ``arms`` list of a YAML file; the other options (or
the file's top-level fields) are shared. Arms are grouped by data recipe, the groups packed onto
the devices by memory estimate, and each part trained in one run over one data stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from gms_models.errors import ConfigError

if TYPE_CHECKING:
    from gms_models.train import Assignment, DistillConfig, DistillResult

GIB = 2**30
DEFAULT_LR = 3e-4


def format_lr(lr: float) -> str:
    """``3e-4`` for 0.0003: the mantissa without trailing zeros, the exponent without padding."""
    mantissa, exponent = f"{lr:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def parse_arm(spec: str) -> dict[str, Any]:
    """``[NAME=]ARCH[:LR]`` → the arm's config fields."""
    name, _, rest = spec.rpartition("=")
    arch, _, lr = rest.partition(":")
    if not arch:
        raise ConfigError(f"--arm {spec!r}: expected [NAME=]ARCH[:LR], e.g. gmf_2282:1e-3")
    arm: dict[str, Any] = {"arch": arch}
    if name:
        arm["name"] = name
    if lr:
        try:
            arm["lr"] = float(lr)
        except ValueError:
            raise ConfigError(f"--arm {spec!r}: learning rate {lr!r} is not a number") from None
    return arm


def name_arms(arms: list[dict[str, Any]], default_lr: float) -> list[dict[str, Any]]:
    """Give unnamed arms a name: the arch, plus ``-lr<lr>`` when another arm has the same arch."""
    archs = [arm["arch"] for arm in arms]
    named = []
    for arm in arms:
        if "name" not in arm:
            name = arm["arch"]
            if archs.count(arm["arch"]) > 1:
                name += f"-lr{format_lr(arm.get('lr', default_lr))}"
            arm = {**arm, "name": name}
        named.append(arm)
    return named


def read_group_file(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The shared fields and the ``arms`` list of a YAML file (or of its ``distill_group``
    section)."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if isinstance(data, dict) and "distill_group" in data:
        data = data["distill_group"]
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    shared = dict(data)
    arms = shared.pop("arms", [])
    if not isinstance(arms, list) or not all(isinstance(arm, dict) for arm in arms):
        raise ConfigError(f"config file {path}: 'arms' must be a list of mappings")
    return shared, arms


def build_configs(
    shared: dict[str, Any], arms: list[dict[str, Any]], out: Path, source: str
) -> list[DistillConfig]:
    """One config per arm: the shared fields, then the arm's own; out_dir ``out/<name>``."""
    from gms_models.train import DistillConfig

    if not arms:
        raise ConfigError(f"no arms given in {source}: pass --arm ARCH[:LR] (repeatable)")
    default_lr = float(shared.get("lr", DEFAULT_LR))
    configs = []
    for arm in name_arms(arms, default_lr):
        values = {**shared, **arm}
        values.setdefault("out_dir", out / arm["name"])
        configs.append(DistillConfig.from_mapping(values, source=f"{source}, arm {arm['name']}"))
    return configs


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


def distill_group_command(
    arm: Annotated[
        list[str] | None,
        typer.Option(
            help="An arm: [NAME=]ARCH[:LR], repeatable (e.g. --arm gmf_2282:3e-4 --arm "
            "gmf_2282:1e-3 --arm resnet18). Unnamed arms are named by arch, plus -lr<LR> when "
            "two share an arch. Replaces the arms of --config.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML file: shared DistillConfig fields plus 'arms', a list of per-arm fields "
            "(arch, name, lr, epochs, ...), at the top level or under 'distill_group'. "
            "Options given here override the shared fields.",
        ),
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Folder of training images (searched recursively).")
    ] = None,
    teacher: Annotated[
        Path | None, typer.Option(help="Teacher checkpoint in the mobile_sam.pt layout.")
    ] = None,
    teacher_backend: Annotated[
        Literal["auto", "torch", "onnxruntime", "tensorrt"] | None,
        typer.Option(help="Teacher runtime. (default: auto)"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs. (default: 13)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size. (default: 8)")] = None,
    lr: Annotated[
        float | None, typer.Option(help="Learning rate of arms without one. (default: 3e-4)")
    ] = None,
    img_size: Annotated[
        int | None, typer.Option(help="Student input side. (default: 1024)")
    ] = None,
    teacher_size: Annotated[
        int | None, typer.Option(help="Teacher input side. (default: --img-size)")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Base folder: each arm trains into <out>/<arm name>.")
    ] = Path("runs/distill"),
    resume: Annotated[
        bool | None,
        typer.Option("--resume", help="Continue every arm from its own <out>/<arm>/last.pt."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed. (default: 0)")] = None,
    num_workers: Annotated[
        int | None, typer.Option(help="Data-loader worker processes. (default: 2)")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(help="auto (every visible GPU, else the CPU), cpu, cuda or cuda:N."),
    ] = None,
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

    shared: dict[str, Any] = {}
    arms: list[dict[str, Any]] = []
    source = "the command line"
    if config is not None:
        shared, arms = read_group_file(config)
        source = str(config)
    options = {
        "images": images,
        "teacher": teacher,
        "teacher_backend": teacher_backend,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "img_size": img_size,
        "teacher_size": teacher_size,
        "resume": resume,
        "seed": seed,
        "num_workers": num_workers,
        "device": device,
    }
    shared.update({k: v for k, v in options.items() if v is not None})
    if arm:
        arms = [parse_arm(spec) for spec in arm]
    configs = build_configs(shared, arms, out, source)

    cpu_budget = int(cpu_memory_gb * GIB) if cpu_memory_gb is not None else None
    devices = detect_devices(shared.get("device", "auto"), cpu_memory_bytes=cpu_budget)
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


def register(app: typer.Typer) -> None:
    app.command("distill-group")(distill_group_command)
