"""Steps: write the tables and the Pareto plot, and publish them to MLflow and Prefect."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from gms_models.files import atomic_write_text, write_json
from gms_models.tables import (
    AblationRow,
    SegmentRow,
    ablation_cells,
    ablation_columns,
    plot_pareto,
    render_ablation_csv,
    render_ablation_markdown,
    render_segment_csv,
    render_segment_markdown,
)
from tasks.execution import in_flow_run
from tasks.results import RunRef, TableFiles
from tasks.tracking import log_artifact

TABLE2_STEM = "table2_distill_ablation"
TABLE3_STEM = "table3_segment_eval"


def publish(
    run: RunRef | None, files: Sequence[Path], key: str, markdown: str, table: list[dict[str, Any]]
) -> None:
    """The files as MLflow artifacts (``tables/``) and, in a flow run, Prefect artifacts."""
    if run is not None:
        for path in files:
            log_artifact(run, path, "tables")
    if not in_flow_run():
        return
    create_table_artifact(table=table, key=key, description=f"{key} (table)")
    create_markdown_artifact(markdown=markdown, key=f"{key}-markdown", description=key)


@task(name="write-ablation-table", cache_policy=NO_CACHE)
def write_ablation_table(
    rows: list[AblationRow],
    runtimes: Sequence[str],
    pareto_runtime: str,
    out_dir: Path,
    notes: list[str],
    run: RunRef | None = None,
    stem: str = TABLE2_STEM,
) -> TableFiles:
    """Table 2 as ``<stem>.md``/``.csv``, ``<stem>_metrics.json`` (DVC's metrics) and the Pareto
    plot ``<stem>_pareto.png`` under ``out_dir``; published."""
    out_dir = Path(out_dir)
    markdown = render_ablation_markdown(rows, runtimes, notes)
    md = atomic_write_text(out_dir / f"{stem}.md", markdown)
    csv_path = atomic_write_text(out_dir / f"{stem}.csv", render_ablation_csv(rows, runtimes))
    metrics = write_json(out_dir / f"{stem}_metrics.json", ablation_metrics(rows))
    teacher = next((r.miou for r in rows if r.role == "T"), None)
    plot = plot_pareto(rows, pareto_runtime, out_dir / f"{stem}_pareto.png", teacher)
    files = [md, csv_path, metrics] + ([plot] if plot is not None else [])
    columns = ablation_columns(runtimes)
    table = [dict(zip(columns, ablation_cells(r, runtimes), strict=True)) for r in rows]
    publish(run, files, stem.replace("_", "-"), markdown, table)
    return TableFiles(markdown=md, csv=csv_path, plot=plot, metrics=metrics)


def ablation_metrics(rows: Sequence[AblationRow]) -> dict[str, dict[str, float]]:
    """Each row's numbers by model name: what ``dvc metrics show``/``diff`` compare."""
    return {row.model: row.numbers() for row in rows}


@task(name="write-segment-table", cache_policy=NO_CACHE)
def write_segment_table(
    rows: list[SegmentRow], out_dir: Path, notes: list[str], run: RunRef | None = None
) -> TableFiles:
    markdown = render_segment_markdown(rows, notes)
    md = atomic_write_text(Path(out_dir) / f"{TABLE3_STEM}.md", markdown)
    csv_path = atomic_write_text(Path(out_dir) / f"{TABLE3_STEM}.csv", render_segment_csv(rows))
    publish(run, [md, csv_path], "table3-segment-eval", markdown, [r.model_dump() for r in rows])
    return TableFiles(markdown=md, csv=csv_path)
