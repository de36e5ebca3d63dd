"""The study's three tables (markdown, CSV) and their plots on headless Agg figures."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from pydantic import BaseModel, Field

from gms_models.files import atomic_path, atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gms_models.classify.results import FamilyResult

DASH = "–"
MAX_REASON_CHARS = 160


def format_lr(lr: float) -> str:
    """3e-4 → ``3e-4``, 0.0015 → ``1.5e-3`` (the paper's spelling)."""
    mantissa, exponent = f"{lr:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def failure_status(step: str, reason: str) -> str:
    """``failed at <step>: <first line of the reason>`` (shortened): a failed row's status."""
    line = next((s.strip() for s in reason.splitlines() if s.strip()), "unknown error")
    if len(line) > MAX_REASON_CHARS:
        line = line[: MAX_REASON_CHARS - 1] + "…"
    return f"failed at {step}: {line}"


def status_ok(status: str) -> bool:
    return not status.startswith("failed")


def _num(value: str | float | None, fmt: str) -> str:
    if isinstance(value, str):
        return value
    if value is None or not math.isfinite(value):
        return DASH
    return format(value, fmt)


def markdown_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, rule: str = " --- "
) -> str:
    """A GitHub markdown table; ``rule`` is each cell under the header (Table 1's is ``---``)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule_line = "|" + "|".join([rule] * len(columns)) + "|"
    return "\n".join([line(columns), rule_line, *map(line, rows)]) + "\n"


def csv_table(fields: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    """CSV with a header; values at full precision, None and NaN as empty cells."""

    def cell(value: object) -> object:
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return "" if missing else value

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(row.get(k)) for k in fields})
    return buffer.getvalue()


def new_figure(width: float, height: float, dpi: int | None = None) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def grid_cell(
    axis: Axes,
    image: np.ndarray,
    title: str | None,
    ylabel: str | None,
    value_range: tuple[float, float] | None = None,
) -> None:
    """``image`` (RGB, or one channel coloured over ``value_range``) in one cell, without ticks."""
    low, high = value_range or (None, None)
    axis.imshow(image, cmap="viridis", vmin=low, vmax=high)
    axis.set_xticks([])
    axis.set_yticks([])
    if title is not None:
        axis.set_title(title, fontsize=9)
    if ylabel is not None:
        axis.set_ylabel(ylabel, fontsize=9)


def save_figure(figure: Figure, dest: str | Path) -> Path:
    figure.tight_layout()
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        figure.savefig(tmp, format="png")
    return dest


TABLE1_METRICS: tuple[str, ...] = ("train loss", "train acc", "val loss", "val acc")
PARAMS_COLUMN = "params (M)"
MACS_COLUMN = "MACs (M)"


class PaperRow(NamedTuple):
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float


PAPER_TABLE1: dict[str, PaperRow] = {
    "DeepViT": PaperRow(0.3945, 0.8608, 0.4091, 0.8562),
    "NesT": PaperRow(0.4032, 0.8608, 0.4099, 0.8571),
    "RegionViT": PaperRow(0.2121, 0.8956, 0.3001, 0.8801),
    "ViT": PaperRow(0.2082, 0.9098, 0.2934, 0.8819),
    "CCT": PaperRow(0.1381, 0.9446, 0.2248, 0.8909),
    "CrossViT": PaperRow(0.0506, 0.9858, 0.3730, 0.8978),
    "Token-to-Token ViT": PaperRow(0.1284, 0.9562, 0.2305, 0.8988),
    "PiT": PaperRow(0.2220, 0.9098, 0.2661, 0.8988),
    "CaiT": PaperRow(0.1095, 0.9665, 0.285, 0.9127),
    "CvT": PaperRow(0.0057, 0.9920, 0.3573, 0.9266),
    "LeViT": PaperRow(0.0402, 0.9910, 0.1903, 0.9345),
    "GroupMixFormer": PaperRow(0.0388, 0.9927, 0.1542, 0.9673),
}
"""The paper's Table 1, keyed by its row labels (= :attr:`ClassifierFamily.name`)."""


def table1_columns(with_paper: bool) -> list[str]:
    metric_columns = [
        column
        for metric in TABLE1_METRICS
        for column in ((metric, "paper " + metric) if with_paper else (metric,))
    ]
    return ["Encoder", *metric_columns, PARAMS_COLUMN, MACS_COLUMN]


def table1_rows(results: Sequence[FamilyResult], with_paper: bool) -> list[dict[str, str | float]]:
    """Final-epoch metrics, thop params and MACs in millions; NaN for families the paper lacks."""
    rows = []
    for result in results:
        final = result.final
        ours = (final.train_loss, final.train_acc, final.val_loss, final.val_acc)
        theirs = PAPER_TABLE1.get(result.family, (math.nan,) * len(TABLE1_METRICS))
        metrics = [
            v for pair in zip(ours, theirs, strict=True) for v in (pair if with_paper else pair[:1])
        ]
        values: list[str | float] = [
            result.family,
            *metrics,
            result.params / 1e6,
            result.macs / 1e6,
        ]
        rows.append(dict(zip(table1_columns(with_paper), values, strict=True)))
    return rows


def render_table1_markdown(rows: Sequence[dict[str, str | float]]) -> str:
    if not rows:
        raise ValueError("no rows to render")
    columns = list(rows[0])
    fmt = {c: ".2f" if c in (PARAMS_COLUMN, MACS_COLUMN) else ".4f" for c in columns}
    cells = [[_num(row[c], fmt[c]) for c in columns] for row in rows]
    return markdown_table(columns, cells, rule="---")


def render_table1_csv(rows: Sequence[dict[str, str | float]]) -> str:
    if not rows:
        raise ValueError("no rows to render")
    return csv_table(list(rows[0]), rows)


def render_val_accuracy_png(
    results: Sequence[FamilyResult], *, with_paper: bool, dpi: int = 120
) -> bytes:
    """Table 1's chart as PNG bytes: each family's final val accuracy, the paper's beside."""
    if not results:
        raise ValueError("no results to plot")
    names = [r.family for r in results]
    ours = np.array([r.final.val_acc for r in results])
    x = np.arange(len(results))
    width = 0.4 if with_paper else 0.7
    offset = width / 2 if with_paper else 0.0
    fig = new_figure(max(6.0, 0.8 * len(results) + 2.0), 4.5)
    ax = fig.subplots()
    bars = ax.bar(x - offset, ours, width, label=f"ours ({results[0].img_size} px)")
    ax.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    if with_paper:
        paper = [PAPER_TABLE1[n].val_acc if n in PAPER_TABLE1 else np.nan for n in names]
        ax.bar(x + offset, paper, width, label="paper", color="0.7")
    ax.set_xticks(x, names, rotation=35, ha="right")
    ax.set_ylim(0.0, 1.3)  # room above the bars and their labels for the legend
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_ylabel("val accuracy (MALSD test split)")
    ax.set_title("Table 1: encoder families as Act0/NG classifiers")
    ax.legend(loc="upper left", ncols=2)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_val_accuracy(
    results: Sequence[FamilyResult], path: str | Path, *, with_paper: bool
) -> Path:
    png = render_val_accuracy_png(results, with_paper=with_paper)
    return atomic_write(path, lambda fh: fh.write(png))


class AblationRow(BaseModel):
    """One row of Table 2, an arm or the teacher (``role="T"``); field order = CSV column order."""

    model: str
    role: str = "S"
    arch: str
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
    group: str | None = None  # the arms trained together, e.g. "g1: gmf_2282, resnet18"
    status: str = "ok"
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return status_ok(self.status)

    def numbers(self) -> dict[str, float]:
        """The row's loss, mIoU, size, latencies: DVC's metrics and a registered version's tags."""
        values = self.model_dump(
            include={"last_loss", "miou", "miou_small", "miou_medium", "miou_large",
                     "params_m", "macs_g"},
        )  # fmt: skip
        values.update({f"latency_ms_{k}": v for k, v in sorted(self.latency_ms.items())})
        return {k: v for k, v in values.items() if v is not None}


_AblationColumn = tuple[str, Callable[[AblationRow], str]]


def _ablation_layout(runtimes: Sequence[str]) -> list[_AblationColumn]:

    def latency(runtime: str) -> _AblationColumn:
        return f"Latency {runtime} (ms)", lambda row: _num(row.latency_ms.get(runtime), ".1f")

    return [
        ("Model", lambda row: row.model),
        ("T/S", lambda row: row.role),
        ("Depths", lambda row: "[" + ",".join(map(str, row.depths)) + "]" if row.depths else DASH),
        ("Lr", lambda row: format_lr(row.lr) if row.lr is not None else DASH),
        ("Epoch", lambda row: str(row.epochs) if row.epochs is not None else DASH),
        ("Last loss", lambda row: _num(row.last_loss, ".5f")),
        ("mIoU", lambda row: _num(row.miou, ".3f")),
        ("mIoU S", lambda row: _num(row.miou_small, ".3f")),
        ("mIoU M", lambda row: _num(row.miou_medium, ".3f")),
        ("mIoU L", lambda row: _num(row.miou_large, ".3f")),
        ("Params", lambda row: f"{row.params_m:.2f}M" if row.params_m is not None else DASH),
        ("MACs", lambda row: f"{row.macs_g * 1000:.2f}M" if row.macs_g is not None else DASH),
        *map(latency, runtimes),
        ("Group", lambda row: row.group or DASH),
        ("Status", lambda row: row.status),
    ]


def ablation_columns(runtimes: Sequence[str]) -> list[str]:
    return [column for column, _ in _ablation_layout(runtimes)]


def ablation_cells(row: AblationRow, runtimes: Sequence[str]) -> list[str]:
    return [cell(row) for _, cell in _ablation_layout(runtimes)]


def _notes(notes: Sequence[str]) -> str:
    return "".join(f"\n{note}\n" for note in notes)


def render_ablation_markdown(
    rows: Sequence[AblationRow], runtimes: Sequence[str], notes: Sequence[str] = ()
) -> str:
    cells = [ablation_cells(r, runtimes) for r in rows]
    return markdown_table(ablation_columns(runtimes), cells) + _notes(notes)


def render_ablation_csv(rows: Sequence[AblationRow], runtimes: Sequence[str]) -> str:
    """Table 2 as CSV: a column per :class:`AblationRow` field, ``latency_ms`` one per runtime."""
    fields: list[str] = []
    for name in AblationRow.model_fields:
        fields += [f"latency_ms_{r}" for r in runtimes] if name == "latency_ms" else [name]
    values = []
    for row in rows:
        value = row.model_dump(exclude={"latency_ms"})
        value["depths"] = "-".join(map(str, row.depths)) if row.depths else ""
        value.update({f"latency_ms_{r}": row.latency_ms.get(r) for r in runtimes})
        values.append(value)
    return csv_table(fields, values)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, mIoU) points no other beats on both, by latency, ties by index."""
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
    """mIoU vs latency on ``runtime`` (marker area by params); None when no arm has both."""
    shown = [r for r in rows if r.role == "S" and r.miou is not None and runtime in r.latency_ms]
    if not shown:
        return None
    points = [(r.latency_ms[runtime], float(r.miou or 0.0)) for r in shown]
    front = pareto_front(points)
    figure = new_figure(6.4, 4.6, dpi=110)
    ax = figure.subplots()
    sizes = [40 + 60 * (r.params_m or 0.0) for r in shown]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ax.scatter(xs, ys, s=sizes, alpha=0.6)
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "--", lw=1, label="Pareto front")
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
    return save_figure(figure, out_png)


class SegmentRow(BaseModel):
    model: str
    encoder: str
    miou: float | None
    images: int = 0
    status: str = "ok"

    @property
    def ok(self) -> bool:
        return status_ok(self.status)


def render_segment_markdown(rows: Sequence[SegmentRow], notes: Sequence[str] = ()) -> str:
    columns = ["Model", "Encoder", "Dataset", "Prompt", "mIoU", "Images", "Status"]
    cells = [
        [r.model, r.encoder, "MALSD", "Point", _num(r.miou, ".3f"), str(r.images), r.status]
        for r in rows
    ]
    return markdown_table(columns, cells) + _notes(notes)


def render_segment_csv(rows: Sequence[SegmentRow]) -> str:
    return csv_table(list(SegmentRow.model_fields), [r.model_dump() for r in rows])
