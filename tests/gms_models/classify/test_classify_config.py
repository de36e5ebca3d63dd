"""ClassifyConfig: defaults, family selection, input sizes every family takes, YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gms_models.classify import ClassifyConfig, family_slugs, load_config, parse_config
from gms_models.errors import ConfigError


def test_defaults_cover_all_twelve_families_at_224() -> None:
    config = ClassifyConfig()
    assert config.families == family_slugs()
    assert (config.img_size, config.strict_images) == (224, True)


def test_family_selection_is_normalised_to_slugs_in_table_order() -> None:
    assert parse_config(families="LeViT,vit").families == ["vit", "levit"]
    assert parse_config(families=["gmf_m", "DeepViT"]).families == ["deepvit", "gmf_m"]
    assert parse_config(families="all").families == family_slugs()


def test_none_overrides_keep_the_file_values() -> None:
    config = parse_config({"epochs": 3, "lr": 1e-3}, epochs=None, lr=2e-3)
    assert (config.epochs, config.lr) == (3, 2e-3)


def test_an_img_size_some_family_refuses_names_the_family_and_the_sizes_that_work() -> None:
    with pytest.raises(ConfigError, match=r"img_size=96.*regionvit needs 28·2\^k.*112, 224, 448"):
        parse_config(img_size=96)
    assert parse_config(families="vit,cct", img_size=96).img_size == 96


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"families": "vit,swin"}, "families"),
        ({"epochs": 0}, "epochs"),
        ({"device": "tpu"}, "device"),
        ({"augment": {"crop_scale": (0.9, 0.5)}}, "augment.crop_scale"),
        ({"learning_rate": 0.1}, "learning_rate"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"invalid classify config: {field}"):
        parse_config(values)


def test_yaml_file_with_a_classify_section_and_overrides(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("distill:\n  epochs: 13\nclassify:\n  epochs: 5\n  families: vit,pit\n")
    config = load_config(params, img_size=64)
    assert (config.epochs, config.families, config.img_size) == (5, ["vit", "pit"], 64)
    plain = tmp_path / "classify.yaml"
    plain.write_text("batch_size: 4\n")
    assert load_config(plain).batch_size == 4


def test_broken_yaml_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "params.yaml"
    broken.write_text("classify: [unclosed\n")
    with pytest.raises(ConfigError, match=r"params\.yaml is not valid YAML"):
        load_config(broken)
    wrong = tmp_path / "list.yaml"
    wrong.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml must hold a mapping"):
        load_config(wrong)
    bad_value = tmp_path / "bad.yaml"
    bad_value.write_text("classify:\n  epochs: -1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid classify config: epochs"):
        load_config(bad_value)
