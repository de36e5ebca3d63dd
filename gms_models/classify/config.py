"""The settings of one encoder-selection run (Table 1) for ``params.yaml``, the CLI and the flow."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gms_models.classify.families import common_img_sizes, family_slugs, resolve_families
from gms_models.errors import ConfigError, validate
from gms_models.train.config import DeviceName, read_yaml_mapping


class AugmentConfig(BaseModel):
    """Training augmentation: random resized crop (aspect 3/4 to 4/3), horizontal flip."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    crop_scale: tuple[float, float] = (0.6, 1.0)
    hflip: bool = True

    @field_validator("crop_scale")
    @classmethod
    def _valid_scale(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {value}")
        return value


class ClassifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    families: list[str] = Field(default_factory=family_slugs)
    img_size: int = 224
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    warmup_epochs: int = Field(2, ge=0)
    seed: int = Field(0, ge=0)
    num_workers: int = Field(0, ge=0)
    device: DeviceName = "auto"
    strict_images: bool = True
    compare_with_paper: bool = True
    # the paper's figures beside ours (meaningful on the real MALSD only)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @field_validator("families", mode="before")
    @classmethod
    def _resolve(cls, value: Any) -> list[str]:
        if not isinstance(value, str | list | tuple):
            raise ValueError(f"families must be 'all', 'a,b' or a list, got {value!r}")
        try:
            return [f.slug for f in resolve_families(value)]
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _size_fits_every_family(self) -> ClassifyConfig:
        families = resolve_families(self.families)
        refusing = [f for f in families if not f.size_rule.accepts(self.img_size)]
        if refusing:
            needs = "; ".join(f"{f.slug} needs {f.size_rule.describe()}" for f in refusing)
            common = ", ".join(map(str, common_img_sizes(families)))
            raise ValueError(
                f"img_size={self.img_size} does not suit every chosen family ({needs}); "
                f"sizes they all take: {common}"
            )
        return self


def parse_config(values: Mapping[str, Any] | None = None, **overrides: Any) -> ClassifyConfig:
    merged = dict(values or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return validate(ClassifyConfig, merged, "classify config")


def load_config(path: str | Path, **overrides: Any) -> ClassifyConfig:
    """From a YAML file or its ``classify`` section."""
    data = read_yaml_mapping(Path(path))
    if isinstance(data.get("classify"), dict):
        data = data["classify"]
    try:
        return parse_config(data, **overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
