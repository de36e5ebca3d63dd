"""The distillation run's configuration, shared by the CLI, the flows and ``params.yaml``.

Defaults follow the paper's Table 2 setup (input 1024, batch 8, Adam at a constant 3e-4,
13 epochs, Huber loss). Unknown keys are refused so that a typo in ``params.yaml`` fails loudly
instead of being ignored.

The fields fall into two groups. The *data recipe* (:meth:`DistillConfig.data_recipe`): images,
teacher and its size, crops, student input size, batch size, epochs and seed; students whose
recipes are equal can be trained over one data stream with one teacher pass (the stream delivers
the student crops at one size, so the student size belongs to it). The rest (name, arch,
optimiser, schedule, precision, output folder) is per student.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gms_models.errors import ConfigError
from gms_models.teacher.select import BackendName, PrecisionChoice

AmpChoice = Literal["auto", "off", "bf16", "fp16"]
OptimizerName = Literal["adam", "adamw"]
ScheduleName = Literal["constant", "cosine"]
OnError = Literal["fail", "skip"]

#: Fields that define the data stream; students sharing all of them can share the teacher pass.
DATA_RECIPE_FIELDS: tuple[str, ...] = (
    "images",
    "teacher",
    "teacher_backend",
    "teacher_precision",
    "teacher_size",
    "fixed_crops",
    "feature_cache",
    "on_error",
    "batch_size",
    "epochs",
    "seed",
    "num_workers",
    "device",
    "img_size",
)


class DistillConfig(BaseModel):
    """One student's decoupled-distillation run (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # the student
    arch: str = Field(description="encoder registry name of the student, e.g. gmf_2282")
    name: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$",
        description="run name (the ablation arm, e.g. gmf_2282-lr1e-3): names the student in "
        "progress, callbacks and results, and its default out_dir; default: arch",
    )
    img_size: int = Field(1024, gt=0, multiple_of=16, description="student input side")

    # the data recipe
    images: Path = Field(description="folder of training images (searched recursively)")
    teacher: Path = Field(description="teacher checkpoint in the mobile_sam.pt layout")
    teacher_backend: BackendName = "auto"
    teacher_precision: PrecisionChoice = "auto"
    teacher_size: int | None = Field(
        None, gt=0, multiple_of=16, description="teacher input side; default: img_size"
    )
    fixed_crops: bool = Field(False, description="the same crop of each image in every epoch")
    feature_cache: bool = Field(
        False, description="cache teacher features on disk (fp16); needs fixed_crops"
    )
    on_error: OnError = Field("fail", description="unreadable images: fail, or skip and report")
    num_workers: int = Field(2, ge=0)
    epochs: int = Field(13, gt=0)
    batch_size: int = Field(8, gt=0)
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")

    # optimisation
    lr: float = Field(3e-4, gt=0)
    optimizer: OptimizerName = "adam"
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0, description="linear warm-up from 0 over this many steps")
    schedule: ScheduleName = Field("constant", description="lr after warm-up")
    min_lr: float = Field(0.0, ge=0, description="floor of the cosine schedule")
    amp: AmpChoice = Field("auto", description="mixed precision on CUDA; auto = bf16 if supported")
    grad_clip: float | None = Field(None, gt=0, description="max global grad norm")
    channels_last: bool | None = Field(None, description="NHWC tensors; default: on CUDA only")
    deterministic: bool = Field(False, description="torch deterministic algorithms")

    # output
    out_dir: Path | None = Field(None, description="run folder; default runs/distill/<name>")
    resume: bool = Field(False, description="continue from out_dir/last.pt if it exists")
    cache_dir: Path | None = Field(
        None, description="teacher ONNX/engine/feature cache; default $GMS_CACHE"
    )
    feature_channels: int = Field(4, gt=0, le=32, description="channels in the feature picture")

    @model_validator(mode="after")
    def _check(self) -> DistillConfig:
        if self.feature_cache and not self.fixed_crops:
            raise ValueError(
                "feature_cache needs fixed_crops: with fresh crops every epoch the cached "
                "teacher features would be stale"
            )
        if self.schedule == "cosine" and self.min_lr > self.lr:
            raise ValueError(f"min_lr {self.min_lr} is above lr {self.lr}")
        return self

    @property
    def resolved_teacher_size(self) -> int:
        return self.teacher_size if self.teacher_size is not None else self.img_size

    @property
    def run_name(self) -> str:
        """``name``, or the arch when no name is given."""
        return self.name if self.name is not None else self.arch

    @property
    def resolved_out_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        return Path("runs") / "distill" / self.run_name

    def data_recipe(self) -> dict[str, Any]:
        """The fields that define the data stream (JSON-able, teacher size resolved)."""
        recipe = self.model_dump(mode="json", include=set(DATA_RECIPE_FIELDS))
        recipe["teacher_size"] = self.resolved_teacher_size
        return recipe

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, source: str = "config") -> DistillConfig:
        """Validate ``values``; errors become :class:`ConfigError` naming each bad field."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(config)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"invalid distillation config in {source}: {problems}") from None

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        *,
        section: str | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> DistillConfig:
        """Read a YAML mapping (or its ``section`` key, e.g. ``distill`` in ``params.yaml``),
        apply ``overrides`` (values that are None are ignored), and validate."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if section is not None:
            if not isinstance(data, dict) or section not in data:
                raise ConfigError(f"config file {path} has no {section!r} section")
            data = data[section]
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
        merged = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        return cls.from_mapping(merged, source=str(path))
