"""What the steps return; each is also the ``outputs.json`` of its work folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.caching import StepOutputs


class RunRef(BaseModel):
    """An MLflow run (a task parameter, so it must serialise)."""

    model_config = ConfigDict(frozen=True)

    tracking_uri: str
    experiment_id: str
    run_id: str


class DataInfo(StepOutputs):
    root: Path
    unlabeled: Path
    coco_images: Path
    coco_annotations: Path
    malsd: Path
    fingerprints: dict[str, str]  # content hash per part (unlabeled, coco, malsd)
    dvc_md5: str | None = None  # what data.dvc records for this folder, when it tracks it
    generated: bool = False


class TeacherInfo(StepOutputs):
    checkpoint: Path
    sha256: str
    random: bool  # random weights: the students learn to copy noise; the masks mean nothing
    source: str  # a path, a URL, or random(seed=N)
    backend: str  # asked for in distillation (auto resolves per device)
    precision: str


class DistillOutputs(StepOutputs):
    arm: str
    arch: str
    work_dir: Path
    checkpoint: Path  # student.pt
    feature_pictures: list[Path]
    loss_history: list[float]
    last_loss: float
    epochs_completed: int
    images_seen: int
    wall_time_s: float
    config: dict[str, object]  # the DistillConfig as JSON (for the MLflow params)
    depths: list[int] | None = None
    params_m: float  # thop convention, millions (the paper's Params column)
    params_true_m: float
    macs_g: float  # thop MACs at the profile size, billions (the paper's Flops column / 1000)
    profile_img_size: int
    logged_run_id: str | None = None  # the run the epochs were logged to live


class ExportOutputs(StepOutputs):
    arm: str
    work_dir: Path
    bundle_dir: Path
    bundle_files: list[Path] = Field(description="ONNX graphs, their metadata JSON, manifest")
    encoder_onnx: Path
    package_dir: Path | None = None  # the deployable SAM-profile folder (a model version)
    latency_ms: dict[str, float] = Field(default_factory=dict)  # median, batch 1, per runtime
    latency_skipped: dict[str, str] = Field(default_factory=dict)  # runtime → why not


class EvalOutputs(StepOutputs):
    arm: str
    work_dir: Path
    images: int
    prompts: int
    result_json: Path
    mask_grid: Path | None = None
    reference: str  # gt (COCO masks) or teacher (the teacher's masks for the same prompts)
    metrics: dict[str, float]  # miou, miou_small/medium/large (empty bins left out)


class ClassifyOutputs(StepOutputs):
    """One family of Table 1 (``FamilyResult.as_dict()`` plus its file)."""

    slug: str
    work_dir: Path
    result: dict[str, object]
    metrics_json: Path
    logged_run_id: str | None = None  # the run the epochs were logged to live


class TableFiles(StepOutputs):
    markdown: Path
    csv: Path
    plot: Path | None = None
    metrics: Path | None = None
