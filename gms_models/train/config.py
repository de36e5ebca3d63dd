"""The distillation config, one model for the CLI, the flows and ``params.yaml``: what a run's
students share (:class:`DistillSettings`), one student (:class:`DistillConfig`), an :class:`Arm`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from gms_models.errors import ConfigError, validate
from gms_models.teacher_options import BackendName, PrecisionChoice

AmpChoice = Literal["auto", "off", "bf16", "fp16"]
OptimizerName = Literal["adam", "adamw"]
ScheduleName = Literal["constant", "cosine"]
OnError = Literal["fail", "skip"]
RunName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")]


def _device_name(value: str) -> str:
    if value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value):
        return value
    raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {value!r}")


DeviceName = Annotated[str, AfterValidator(_device_name)]

#: Fields that define the data stream; students sharing all of them can share the teacher pass.
DATA_RECIPE_FIELDS: tuple[str, ...] = (
    "images", "teacher", "teacher_backend", "teacher_precision", "teacher_size", "fixed_crops",
    "feature_cache", "on_error", "batch_size", "epochs", "seed", "num_workers", "device",
    "img_size",
)  # fmt: skip

#: Fields that do not change a run's trajectory: a resume and a recorded failure hold across them.
NEUTRAL_FIELDS = frozenset({
    "name", "resume", "resume_with_changes", "out_dir", "cache_dir", "device", "num_workers",
    "feature_channels",
})  # fmt: skip


class DistillSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    img_size: int = Field(1024, gt=0, multiple_of=16, description="student input side")
    # a default, not a required field, in the JSON schema Prefect validates parameters by
    teacher_size: int = Field(
        default_factory=lambda data: data.get("img_size"),
        gt=0,
        multiple_of=16,
        description="teacher input side; default: img_size",
    )
    fixed_crops: bool = Field(False, description="the same crop of each image in every epoch")
    feature_cache: bool = Field(False, description="teacher features cached; needs fixed_crops")
    on_error: OnError = Field("fail", description="unreadable images: fail, or skip and report")
    num_workers: int = Field(2, ge=0, description="data-loader worker processes")
    epochs: int = Field(13, gt=0, description="epochs")
    batch_size: int = Field(8, gt=0, description="batch size")
    seed: int = Field(0, ge=0, description="seed")
    device: DeviceName = Field("auto", description="auto, cpu, cuda or cuda:N")

    lr: float = Field(3e-4, gt=0, description="learning rate")
    optimizer: OptimizerName = "adam"
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0, description="linear warm-up from 0 over this many steps")
    schedule: ScheduleName = Field("constant", description="lr after warm-up")
    min_lr: float = Field(0.0, ge=0, description="floor of the cosine schedule")
    amp: AmpChoice = Field("auto", description="mixed precision on CUDA; auto = bf16 if supported")
    grad_clip: float | None = Field(None, gt=0, description="max global grad norm")
    channels_last: bool | None = Field(None, description="NHWC tensors; default: on CUDA only")
    deterministic: bool = Field(False, description="torch deterministic algorithms")
    feature_channels: int = Field(4, gt=0, le=32, description="channels in the feature picture")

    def channels_last_on(self, device_type: str) -> bool:
        return self.channels_last if self.channels_last is not None else device_type == "cuda"

    @model_validator(mode="before")
    @classmethod
    def _teacher_size_none_is_unset(cls, data: Any) -> Any:
        """``teacher_size: null`` (a CLI option left out) takes the default, img_size."""
        if isinstance(data, Mapping) and "teacher_size" in data and data["teacher_size"] is None:
            return {k: v for k, v in data.items() if k != "teacher_size"}
        return data

    @model_validator(mode="after")
    def _check(self) -> DistillSettings:
        if self.feature_cache and not self.fixed_crops:
            raise ValueError(
                "feature_cache needs fixed_crops: with fresh crops every epoch the cached "
                "teacher features would be stale"
            )
        if self.schedule == "cosine" and self.min_lr > self.lr:
            raise ValueError(f"min_lr {self.min_lr} is above lr {self.lr}")
        return self


class DistillConfig(DistillSettings):
    arch: str = Field(description="encoder registry name of the student, e.g. gmf_2282")
    name: RunName | None = Field(None, description="run name (the ablation arm); default: arch")
    images: Path = Field(description="folder of training images (searched recursively)")
    teacher: Path = Field(description="teacher checkpoint in the mobile_sam.pt layout")
    teacher_backend: BackendName = Field(
        "auto", description="auto: tensorrt on CUDA if installed, else onnxruntime, else torch"
    )
    teacher_precision: PrecisionChoice = "auto"
    out_dir: Path | None = Field(None, description="run folder; default runs/distill/<name>")
    resume: bool = Field(False, description="continue from out_dir/last.pt if it exists")
    resume_with_changes: bool = Field(
        False, description="with resume: continue last.pt even if it was trained otherwise"
    )
    cache_dir: Path | None = Field(
        None, description="teacher ONNX/engine/feature cache; default $GMS_CACHE"
    )

    @property
    def run_name(self) -> str:
        return self.name if self.name is not None else self.arch

    @property
    def resolved_out_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        return Path("runs") / "distill" / self.run_name

    def data_recipe(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=set(DATA_RECIPE_FIELDS))

    def trajectory_settings(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(NEUTRAL_FIELDS))

    def resume_conflicts(self, saved: dict[str, Any], epochs_done: int) -> list[str]:
        """``field: old -> new`` per trajectory field that differs from a checkpoint's. More epochs
        under a constant schedule is no conflict: the lr does not depend on the total then."""
        conflicts = []
        for key, value in self.trajectory_settings().items():
            if key not in saved or saved[key] == value:
                continue
            if key == "epochs" and self.schedule == "constant" and value >= epochs_done:
                continue
            conflicts.append(f"{key}: {saved[key]!r} -> {value!r}")
        return conflicts

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "config") -> DistillConfig:
        return validate(cls, values, f"distillation config in {source}")

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        *,
        section: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> DistillConfig:
        """A YAML mapping (or its ``section``) updated by the ``overrides`` that are not None."""
        values = read_yaml_mapping(Path(path), section)
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        return cls.from_mapping({**values, **given}, source=str(path))


class Arm(BaseModel):
    """One named student of an ablation; lr and epochs default to the run's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arch: str | None = Field(None, description="encoder registry name; default: the arm's name")
    lr: float | None = Field(None, gt=0)
    epochs: int | None = Field(None, gt=0)


Arms = dict[RunName, Arm]


def arm_config(name: str, arm: Arm, settings: DistillSettings, **fields: Any) -> DistillConfig:
    """``settings`` with the arm's own values, plus ``fields`` (images, teacher, out_dir, ...)."""
    values = {
        **settings.model_dump(),
        **arm.model_dump(exclude_none=True),
        "arch": arm.arch or name,
        "name": name,
        **fields,
    }
    return DistillConfig.from_mapping(values, source=f"arm {name}")


def read_yaml_mapping(path: Path, section: str | None = None) -> dict[str, Any]:
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
    return data


def merge_layers(*layers: Mapping[str, Any], sets: Sequence[str] = ()) -> dict[str, Any]:
    """Deep-merge mappings (later wins), then apply dotted ``KEY=VALUE`` sets (values as YAML)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    bad = [s for s in sets if "=" not in s or not s.partition("=")[0].strip()]
    if bad:
        raise ConfigError(
            f"--set takes KEY=VALUE (dotted keys, e.g. train.epochs=3), got {bad[0]!r}"
        )
    try:
        merged = OmegaConf.merge(*(OmegaConf.create(dict(layer)) for layer in layers))
        merged.merge_with_dotlist(list(sets))
    except (OmegaConfBaseException, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot merge the parameters: {exc}") from None
    result = OmegaConf.to_container(merged, resolve=False)
    assert isinstance(result, dict)
    return {str(k): v for k, v in result.items()}
