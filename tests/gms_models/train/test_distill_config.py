"""DistillConfig: the paper's defaults, strict validation with named fields, YAML loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from gms_models.errors import ConfigError
from gms_models.train import DATA_RECIPE_FIELDS, DistillConfig


def _config(**overrides: object) -> DistillConfig:
    values: dict[str, object] = {
        "arch": "gmf_2282",
        "images": Path("imgs"),
        "teacher": Path("t.pt"),
    }
    return DistillConfig(**{**values, **overrides})


def test_defaults_follow_the_paper_table_2_setup() -> None:
    config = _config()
    assert (config.img_size, config.batch_size, config.lr, config.epochs) == (1024, 8, 3e-4, 13)
    assert (config.optimizer, config.schedule, config.warmup_steps) == ("adam", "constant", 0)
    assert config.teacher_size == 1024
    assert config.resolved_out_dir == Path("runs/distill/gmf_2282")
    assert _config(img_size=256).teacher_size == 256


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"epochs": 0}, "epochs"),
        ({"img_size": 250}, "img_size"),
        ({"teacher_backend": "jax"}, "teacher_backend"),
        ({"optimiser": "adam"}, "optimiser"),
        ({"feature_cache": True}, "fixed_crops"),
        ({"schedule": "cosine", "min_lr": 1.0}, "min_lr"),
        ({"device": "gpu"}, "device.*auto, cpu, cuda or cuda:N, got 'gpu'"),
        ({"device": "cuda:x"}, "device"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(values: dict, named: str) -> None:
    base = {"arch": "gmf_2282", "images": "imgs", "teacher": "t.pt"}
    with pytest.raises(ConfigError, match=named):
        DistillConfig.from_mapping({**base, **values}, source="test")


def test_yaml_section_and_overrides(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "distill:\n  arch: resnet18\n  images: data/coco\n  teacher: t.pt\n  epochs: 2\n"
        "other: {x: 1}\n"
    )
    config = DistillConfig.from_yaml(
        params, section="distill", overrides={"epochs": 5, "lr": None, "seed": 3}
    )
    assert (config.arch, config.epochs, config.lr, config.seed) == ("resnet18", 5, 3e-4, 3)
    with pytest.raises(ConfigError, match="no 'train' section"):
        DistillConfig.from_yaml(params, section="train")
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        DistillConfig.from_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("arch: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        DistillConfig.from_yaml(broken)


def test_data_recipe_separates_the_stream_from_the_student() -> None:
    a = _config(img_size=256, lr=3e-4)
    b = _config(img_size=256, lr=1e-3, arch="resnet18", out_dir=Path("elsewhere"))
    assert a.data_recipe() == b.data_recipe()
    assert set(a.data_recipe()) == set(DATA_RECIPE_FIELDS)
    assert a.data_recipe()["teacher_size"] == 256
    assert a.data_recipe() != _config(img_size=256, batch_size=4).data_recipe()
