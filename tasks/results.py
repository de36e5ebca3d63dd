"""What the steps return; each is also the ``outputs.json`` of its work folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.caching import StepOutputs


class RunRef(BaseModel):
    """An MLflow run, as the steps need it (a task parameter, so it must serialise)."""

    model_config = ConfigDict(frozen=True)

    tracking_uri: str
    experiment_id: str
    run_id: str


class DataInfo(StepOutputs):
    """A checked data folder: where its parts are and their content hashes."""

    root: Path
    unlabeled: Path
    coco_images: Path
    coco_annotations: Path
    malsd: Path
    fingerprints: dict[str, str]
    """Content hash per part (``unlabeled``, ``coco``, ``malsd``)."""
    dvc_md5: str | None = None
    """The md5 that ``data.dvc`` records for this folder, when it tracks it."""
    generated: bool = False


class TeacherInfo(StepOutputs):
    """The teacher checkpoint the arms distil from and are scored with."""

    checkpoint: Path
    sha256: str
    random: bool
    """Random weights: the students learn to copy noise; the masks mean nothing."""
    source: str
    """Where it came from: a path, a URL, or ``random(seed=N)``."""
    backend: str
    """Teacher backend asked for in distillation (``auto`` resolves per device)."""
    precision: str


class DistillOutputs(StepOutputs):
    arm: str
    arch: str
    work_dir: Path
    checkpoint: Path
    """``student.pt``."""
    feature_pictures: list[Path]
    loss_history: list[float]
    last_loss: float
    epochs_completed: int
    images_seen: int
    wall_time_s: float
    config: dict[str, object]
    """The DistillConfig as JSON (every knob, for the MLflow params)."""
    depths: list[int] | None = None
    params_m: float
    """thop-convention params, millions (the paper's Params column)."""
    params_true_m: float
    macs_g: float
    """thop MACs at the profile size, billions (the paper's Flops column / 1000)."""
    profile_img_size: int
    logged_run_id: str | None = None
    """The MLflow run the epochs were logged to live (a reuse replays them elsewhere)."""


class ExportOutputs(StepOutputs):
    arm: str
    work_dir: Path
    bundle_dir: Path
    bundle_files: list[Path] = Field(description="ONNX graphs, their metadata JSON, manifest")
    encoder_onnx: Path
    package_dir: Path | None = None
    """The deployable SAM-profile folder at 1024 (registered as a model version), if any."""
    latency_ms: dict[str, float] = Field(default_factory=dict)
    """Encoder latency (median, batch 1) per runtime that could run here."""
    latency_skipped: dict[str, str] = Field(default_factory=dict)
    """Runtimes asked for that could not run here, with the reason."""


class EvalOutputs(StepOutputs):
    """What every evaluation writes (its counts, per-prompt records and mask grid) and scores."""

    arm: str
    work_dir: Path
    images: int
    prompts: int
    result_json: Path
    mask_grid: Path | None = None
    reference: str
    """``gt`` (COCO masks) or ``teacher`` (the teacher's masks for the same prompts)."""
    metrics: dict[str, float]
    """``miou``, ``miou_small``/``medium``/``large`` (empty bins left out)."""


class ClassifyOutputs(StepOutputs):
    """One family of Table 1 (the library's ``FamilyResult.as_dict()`` plus its file)."""

    slug: str
    work_dir: Path
    result: dict[str, object]
    metrics_json: Path
    logged_run_id: str | None = None
    """The MLflow run the epochs were logged to live (a reuse replays them elsewhere)."""


class TableFiles(StepOutputs):
    markdown: Path
    csv: Path
    plot: Path | None = None
    metrics: Path | None = None
