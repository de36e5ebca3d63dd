"""Steps: write the tables of the study (markdown + CSV) and the Pareto plot, and publish them as
MLflow artifacts of the flow's parent run and as Prefect table/markdown artifacts.

Table 2 (distillation ablation) has the paper's columns — Model, T/S, Depths, Lr, Epoch, Last
loss, mIoU, Params, MACs — plus mIoU by COCO size bin, the encoder latency per runtime and each
arm's status (a failed arm keeps its row, with the reason). The Pareto plot puts mIoU against
latency on one runtime, with marker area by params, and joins the arms no other arm beats on both.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from gms_models.train.config import format_lr
from tasks.caching import write_text_atomic
from tasks.results import RunRef, TableFiles
from tasks.tracking import log_artifact

DASH = "–"
TABLE2_STEM = "table2_distill_ablation"
TABLE3_MD = "table3_segment_eval.md"
TABLE3_CSV = "table3_segment_eval.csv"
MAX_REASON_CHARS = 160


class AblationRow(BaseModel):
    """One row of Table 2: an arm, or the teacher (``role="T"``)."""

    model: str
    arch: str
    role: str = "S"
    depths: list[int] | None = None
    lr: float | None = None
    epochs: int | None = None
    last_loss: float | None = None
    miou: float | None = None
    miou_small: float | None = None
    miou_medium: float | None = None
    miou_large: float | None = None
    params_m: float | None = None
    macs_g: float | None = None
    latency_ms: dict[str, float] = Field(default_factory=dict)
    status: str = "ok"
    run_id: str | None = None
    group: str | None = None
    """The arms trained together with this one, e.g. ``g1: gmf_2282, resnet18``."""

    @property
    def ok(self) -> bool:
        return not self.status.startswith("failed")


def failure_status(step: str, reason: str) -> str:
    """``failed at <step>: <first line of the reason>`` (shortened)."""
    line = next((s.strip() for s in reason.splitlines() if s.strip()), "unknown error")
    if len(line) > MAX_REASON_CHARS:
        line = line[: MAX_REASON_CHARS - 1] + "…"
    return f"failed at {step}: {line}"


def _num(value: float | None, fmt: str) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return format(value, fmt)


def _columns(runtimes: Sequence[str]) -> list[str]:
    return [
        "Model",
        "T/S",
        "Depths",
        "Lr",
        "Epoch",
        "Last loss",
        "mIoU",
        "mIoU S",
        "mIoU M",
        "mIoU L",
        "Params",
        "MACs",
        *(f"Latency {r} (ms)" for r in runtimes),
        "Group",
        "Status",
    ]


def _display(row: AblationRow, runtimes: Sequence[str]) -> list[str]:
    depths = "[" + ",".join(map(str, row.depths)) + "]" if row.depths else DASH
    return [
        row.model,
        row.role,
        depths,
        format_lr(row.lr) if row.lr is not None else DASH,
        str(row.epochs) if row.epochs is not None else DASH,
        _num(row.last_loss, ".5f"),
        _num(row.miou, ".3f"),
        _num(row.miou_small, ".3f"),
        _num(row.miou_medium, ".3f"),
        _num(row.miou_large, ".3f"),
        f"{row.params_m:.2f}M" if row.params_m is not None else DASH,
        f"{row.macs_g * 1000:.2f}M" if row.macs_g is not None else DASH,
        *(_num(row.latency_ms.get(r), ".1f") for r in runtimes),
        row.group or DASH,
        row.status,
    ]


def _markdown(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(columns), line(["---"] * len(columns)), *map(line, rows)]) + "\n"


def render_ablation_markdown(
    rows: Sequence[AblationRow], runtimes: Sequence[str], notes: Sequence[str] = ()
) -> str:
    """Table 2 as markdown, then one line per note (setup, reference masks, warnings)."""
    table = _markdown(_columns(runtimes), [_display(r, runtimes) for r in rows])
    return table + "".join(f"\n{note}\n" for note in notes)


def render_ablation_csv(rows: Sequence[AblationRow], runtimes: Sequence[str]) -> str:
    """Table 2 as CSV at full precision (empty cells where there is no value)."""
    fields = [
        "model",
        "role",
        "arch",
        "depths",
        "lr",
        "epochs",
        "last_loss",
        "miou",
        "miou_small",
        "miou_medium",
        "miou_large",
        "params_m",
        "macs_g",
        *(f"latency_ms_{r}" for r in runtimes),
        "group",
        "status",
        "run_id",
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = row.model_dump(exclude={"latency_ms"})
        values["depths"] = "-".join(map(str, row.depths)) if row.depths else ""
        values.update({f"latency_ms_{r}": row.latency_ms.get(r) for r in runtimes})
        writer.writerow({k: "" if values.get(k) is None else values[k] for k in fields})
    return buffer.getvalue()


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (latency, mIoU) that no other point beats on both: lower or equal
    latency with higher mIoU. Sorted by latency; ties broken by index."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_pareto(
    rows: Sequence[AblationRow], runtime: str, out_png: Path, teacher_miou: float | None = None
) -> Path | None:
    """mIoU vs latency on ``runtime`` (marker area by params), the front joined; None when no
    arm has both numbers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from gms_models.atomic import atomic_path

    shown = [
        r
        for r in rows
        if r.role == "S" and r.miou is not None and r.latency_ms.get(runtime) is not None
    ]
    if not shown:
        return None
    points = [(r.latency_ms[runtime], float(r.miou or 0.0)) for r in shown]
    front = pareto_front(points)
    figure = Figure(figsize=(6.4, 4.6), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    sizes = [40 + 60 * (r.params_m or 0.0) for r in shown]
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=sizes, alpha=0.6)
    ax.plot(
        [points[i][0] for i in front],
        [points[i][1] for i in front],
        "--",
        lw=1,
        label="Pareto front",
    )
    for row, (x, y) in zip(shown, points, strict=True):
        label = f"{row.model} ({row.params_m:.2f}M)" if row.params_m is not None else row.model
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    if teacher_miou is not None:
        ax.axhline(
            teacher_miou, color="grey", lw=1, ls=":", label=f"teacher mIoU {teacher_miou:.3f}"
        )
    ax.margins(x=0.2, y=0.15)
    ax.set_xlabel(f"encoder latency on {runtime} (ms, batch 1)")
    ax.set_ylabel("mIoU")
    ax.set_title("Distillation ablation: accuracy vs latency (marker area ~ params)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, format="png")
    return out_png


def publish(
    run: RunRef | None, files: Sequence[Path], key: str, markdown: str, table: list[dict]
) -> None:
    """The tables as MLflow artifacts (``tables/``) and Prefect table + markdown artifacts."""
    if run is not None:
        for path in files:
            log_artifact(run, path, "tables")
    create_table_artifact(table=table, key=key, description=f"{key} (table)")
    create_markdown_artifact(markdown=markdown, key=f"{key}-markdown", description=key)


@task(name="write-ablation-table", cache_policy=NO_CACHE)
def write_ablation_table(
    rows: list[AblationRow],
    runtimes: list[str],
    pareto_runtime: str,
    out_dir: Path,
    notes: list[str],
    run: RunRef | None = None,
    stem: str = TABLE2_STEM,
) -> TableFiles:
    """Table 2 as ``<stem>.md``/``.csv`` and its Pareto plot ``<stem>_pareto.png`` under
    ``out_dir``; published (see :func:`publish`)."""
    out_dir = Path(out_dir)
    markdown = render_ablation_markdown(rows, runtimes, notes)
    md = write_text_atomic(out_dir / f"{stem}.md", markdown)
    csv_path = write_text_atomic(out_dir / f"{stem}.csv", render_ablation_csv(rows, runtimes))
    teacher = next((r.miou for r in rows if r.role == "T"), None)
    plot = plot_pareto(rows, pareto_runtime, out_dir / f"{stem}_pareto.png", teacher)
    files = [md, csv_path] + ([plot] if plot is not None else [])
    columns = _columns(runtimes)
    table = [dict(zip(columns, _display(r, runtimes), strict=True)) for r in rows]
    publish(run, files, stem.replace("_", "-"), markdown, table)
    return TableFiles(markdown=md, csv=csv_path, plot=plot)


class SegmentRow(BaseModel):
    """One row of Table 3."""

    model: str
    encoder: str
    miou: float | None
    images: int = 0
    status: str = "ok"


def render_segment_markdown(rows: Sequence[SegmentRow], notes: Sequence[str] = ()) -> str:
    columns = ["Model", "Encoder", "Dataset", "Prompt", "mIoU", "Images", "Status"]
    cells = [
        [r.model, r.encoder, "MALSD", "Point", _num(r.miou, ".3f"), str(r.images), r.status]
        for r in rows
    ]
    return _markdown(columns, cells) + "".join(f"\n{note}\n" for note in notes)


@task(name="write-segment-table", cache_policy=NO_CACHE)
def write_segment_table(
    rows: list[SegmentRow], out_dir: Path, notes: list[str], run: RunRef | None = None
) -> TableFiles:
    """Table 3 (markdown, CSV) under ``out_dir``; published (see :func:`publish`)."""
    markdown = render_segment_markdown(rows, notes)
    md = write_text_atomic(Path(out_dir) / TABLE3_MD, markdown)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(SegmentRow.model_fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.model_dump().items()})
    csv_path = write_text_atomic(Path(out_dir) / TABLE3_CSV, buffer.getvalue())
    publish(run, [md, csv_path], "table3-segment-eval", markdown, [r.model_dump() for r in rows])
    return TableFiles(markdown=md, csv=csv_path)
