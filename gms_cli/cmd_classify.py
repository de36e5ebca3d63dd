"""``gms classify``: Table 1, the encoder families trained as Act0/NG classifiers on MALSD."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

if TYPE_CHECKING:
    from gms_models.classify import ClassifierFamily, ClassifyCallback, EpochMetrics, FamilyResult
    from gms_models.profiling import ModelProfile


def _progress_callback(progress: Progress, families: int) -> ClassifyCallback:
    """A callback driving two bars: families done, and the current family's steps."""
    from gms_models.classify import ClassifyCallback

    class RichProgress(ClassifyCallback):
        def __init__(self) -> None:
            self.overall = progress.add_task("families", total=families)
            self.steps: TaskID | None = None
            self.epochs = 0

        def on_family_start(
            self, family: ClassifierFamily, profile: ModelProfile, epochs: int, steps: int
        ) -> None:
            self.epochs = epochs
            self.steps = progress.add_task(f"{family.name} epoch 1/{epochs}", total=epochs * steps)
            progress.console.print(
                f"[bold]{escape(family.name)}[/] ({family.slug}): "
                f"{profile.params_m:.2f}M params, {profile.macs_m:.2f}M MACs "
                f"at {profile.input_shape[-1]} px",
                highlight=False,
            )

        def on_step_end(self, family: ClassifierFamily, epoch: int, step: int, loss: float) -> None:
            assert self.steps is not None
            progress.update(
                self.steps,
                advance=1,
                description=f"{family.name} epoch {epoch}/{self.epochs} loss {loss:.4f}",
            )

        def on_epoch_end(self, family: ClassifierFamily, metrics: EpochMetrics) -> None:
            progress.console.print(
                f"  epoch {metrics.epoch}: train loss {metrics.train_loss:.4f} "
                f"acc {metrics.train_acc:.4f} | val loss {metrics.val_loss:.4f} "
                f"acc {metrics.val_acc:.4f} ({metrics.seconds:.1f} s)",
                highlight=False,
            )

        def on_family_end(self, result: FamilyResult) -> None:
            if self.steps is not None:
                progress.remove_task(self.steps)
                self.steps = None
            progress.advance(self.overall)

    return RichProgress()


def classify_command(
    malsd: Annotated[
        Path,
        typer.Option(help="MALSD folder: train|test/Act0|NG/*.jpg (see gms_models.data.malsd)."),
    ],
    families: Annotated[
        str | None,
        typer.Option(help="'all' or comma-separated slugs/names, e.g. vit,levit. (default: all)"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs. (default: 30)")] = None,
    img_size: Annotated[
        int | None, typer.Option(help="Input side for every family. (default: 224)")
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/table1"),
    batch_size: Annotated[int | None, typer.Option(help="Batch size. (default: 32)")] = None,
    lr: Annotated[
        float | None, typer.Option(help="Peak AdamW learning rate. (default: 5e-4)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed. (default: 0)")] = None,
    num_workers: Annotated[
        int | None, typer.Option(help="Data-loader worker processes. (default: 0)")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda or cuda:N. (default: auto)")
    ] = None,
    paper: Annotated[
        bool | None,
        typer.Option(
            "--paper/--no-paper",
            help="Put the paper's figures beside ours; use --no-paper on stand-in data. "
            "(default: --paper)",
        ),
    ] = None,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--no-strict",
            help="Refuse non-RGB images instead of converting them. (default: --strict)",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML file of ClassifyConfig fields (or with a 'classify' section, as in "
            "params.yaml); options given here override it."
        ),
    ] = None,
) -> None:
    """Train the Table 1 encoder families as Act0/NG classifiers, all under one recipe.

    Writes <out>/table1.md, <out>/table1.csv, <out>/table1_val_acc.png and
    <out>/metrics/<slug>.json (per-epoch history, params, MACs).
    """
    from gms_models.classify import (
        load_config,
        parse_config,
        train_family,
        write_family_metrics,
        write_table_files,
    )
    from gms_models.classify.train import malsd_splits
    from gms_models.progress import bar_columns
    from gms_models.tables import render_table1_markdown, table1_rows

    overrides = {
        "families": families,
        "epochs": epochs,
        "img_size": img_size,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "num_workers": num_workers,
        "device": device,
        "compare_with_paper": paper,
        "strict_images": strict,
    }
    run_config = load_config(config, **overrides) if config else parse_config(None, **overrides)
    train_set, val_set = malsd_splits(malsd, run_config)  # bad data fails before any output
    with Progress(*bar_columns(), console=Console(stderr=True)) as progress:
        callbacks = [_progress_callback(progress, len(run_config.families))]
        results = []
        for family in run_config.families:  # each family's metrics written as soon as it is done
            results.append(train_family(family, run_config, train_set, val_set, callbacks))
            write_family_metrics(results[-1], out)
    files = write_table_files(results, out, with_paper=run_config.compare_with_paper)
    typer.echo(render_table1_markdown(table1_rows(results, run_config.compare_with_paper)))
    typer.echo(f"wrote {files.markdown}, {files.csv}, {files.chart} and {out / 'metrics'}/")


COMMANDS = {"classify": classify_command}
