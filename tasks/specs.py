"""The settings each step takes (``extra="forbid"``: a typo fails loudly)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gms_models.teacher_options import BackendName, PrecisionChoice

Runtime = Literal["torch", "onnxruntime", "tensorrt"]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingSpec(Settings):
    """Where outputs and MLflow records go."""

    runs_dir: Path = Field(
        Path("runs"), description="work folders, tables and (by default) the MLflow store live here"
    )
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default $MLFLOW_TRACKING_URI, else "
        "sqlite:///<runs_dir>/mlflow.db with artifacts in <runs_dir>/mlartifacts",
    )


class DataSpec(Settings):
    """The data folder and where each part of it lies (paths relative to ``root``)."""

    root: Path = Field(Path("data"), description="data folder (data.dvc tracks ./data)")
    generate_demo: bool = Field(
        True, description="generate the built-in demo data when root is missing or empty"
    )
    demo_seed: int = Field(0, ge=0)
    demo_scale: Literal["tiny", "small", "medium"] = "small"
    unlabeled: str = Field("unlabeled", description="distillation images (any folder of images)")
    coco_images: str = "coco/images"
    coco_annotations: str = "coco/annotations/instances.json"
    malsd: str = Field("malsd", description="MALSD layout: train|test/Act0|NG, test_points.json")


class TeacherSource(Settings):
    """The teacher: a MobileSAM checkpoint, or random weights when none is given."""

    checkpoint: str | None = Field(
        None,
        description="mobile_sam.pt-layout file, or an http(s) URL to download; "
        "None = random weights (only good for checking the plumbing)",
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="expected sha256 of the checkpoint (64 lowercase hex digits)",
    )
    random_seed: int = Field(0, ge=0, description="seed of the random-weight teacher")
    backend: BackendName = Field("auto", description="teacher runtime for distillation")
    precision: PrecisionChoice = "auto"


class ExportSpec(Settings):
    """ONNX export of each arm's encoder (and the SAM decoder beside it)."""

    enabled: bool = True
    opset: int = Field(17, ge=13, le=20)
    decoder: bool = Field(True, description="also export SAM's prompt encoder + mask decoder")
    register_model: str | None = Field(
        "gms-encoder",
        description="MLflow registered model of the deployable packages (None: do not register)",
    )


class EvalSpec(Settings):
    """Box-prompt mIoU on COCO, profile and latency of each arm."""

    reference: Literal["auto", "gt", "teacher"] = Field(
        "auto",
        description="masks to score against: COCO ground truth, the teacher's masks, or auto "
        "(the teacher's when the teacher has random weights, else ground truth)",
    )
    max_images: int | None = Field(None, gt=0, description="evaluate only the first N images")
    batch_prompts: int = Field(64, gt=0)
    mask_grid_images: int = Field(2, ge=0, description="images in the mask-grid picture")
    profile_img_size: int = Field(
        1024, gt=0, multiple_of=16, description="input side of the Params/MACs columns"
    )
    latency_runtimes: list[Runtime] = Field(
        default_factory=lambda: list[Runtime](("torch", "onnxruntime"))
    )
    latency_runs: int = Field(5, gt=0)
    evaluate_teacher: bool = Field(True, description="also score the teacher (Table 2's T row)")


class PickRule(Settings):
    """How ``pick`` chooses the encoder to deploy (README: "The pick rule"): the fastest on
    ``runtime`` among the arms within ``margin`` of the reference mIoU, else the most accurate."""

    runtime: Runtime = "onnxruntime"
    margin: float = Field(
        0.01, ge=0, allow_inf_nan=False, description="absolute mIoU below the reference allowed"
    )
    reference: Literal["teacher", "best"] = "teacher"
    alias: str = "champion"
