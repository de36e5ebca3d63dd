"""Flow parameters: arm naming, params.yaml sections, --set, and flow signatures = the models."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from flows.params import (
    FLOW_PARAMS,
    ArmGrid,
    DistillAblationParams,
    load_flow_params,
    section_name,
    study_preset,
)
from gms_models.errors import ConfigError
from tasks.specs import ArmOverride, TrainSpec


def test_default_arms_are_the_ten_students_of_table_2() -> None:
    arms = ArmGrid().resolve(TrainSpec())
    assert [a.name for a in arms] == [
        "resnet18", "vit_t", "gmf_33124-lr3e-4", "gmf_3312", "gmf_3344", "gmf_2264",
        "gmf_2282-lr3e-4", "gmf_33124-lr3e-3", "gmf_33124-lr1e-3", "gmf_2282-lr1e-3",
    ]  # fmt: skip
    assert all(a.epochs == 13 for a in arms)
    assert {a.arch for a in arms if a.name.startswith("gmf_33124")} == {"gmf_33124"}


def test_grid_names_get_only_the_suffixes_that_differ() -> None:
    grid = ArmGrid(archs=["gmf_2282", "resnet18"], lrs=[3e-4, 1e-3], epochs=[2], extra=[])
    names = [a.name for a in grid.resolve(TrainSpec())]
    assert names == ["gmf_2282-lr3e-4", "gmf_2282-lr1e-3", "resnet18-lr3e-4", "resnet18-lr1e-3"]
    mixed = ArmGrid(archs=["vit_t"], extra=[ArmOverride(arch="vit_t", epochs=3)])
    assert [a.name for a in mixed.resolve(TrainSpec(epochs=1))] == ["vit_t-e1", "vit_t-e3"]
    named = ArmGrid(archs=[], extra=[ArmOverride(arch="vit_t", name="baseline")])
    assert named.resolve(TrainSpec())[0].name == "baseline"


def test_duplicate_or_missing_arms_are_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        ArmGrid(archs=["vit_t"], extra=[ArmOverride(arch="vit_t")]).resolve(TrainSpec())
    with pytest.raises(ValueError, match="no arms"):
        DistillAblationParams(arms=ArmGrid(archs=[], extra=[]))


def test_arms_as_a_mapping_of_named_arms_or_a_list_of_archs() -> None:
    train = TrainSpec(lr=3e-4, epochs=2)
    named = ArmGrid.model_validate(
        {"gmf_2282": {"lr": None}, "fast": {"arch": "gmf_2282", "lr": 1e-3}, "resnet18": None}
    )
    assert [(a.name, a.arch, a.lr, a.epochs) for a in named.resolve(train)] == [
        ("gmf_2282", "gmf_2282", 3e-4, 2),
        ("fast", "gmf_2282", 1e-3, 2),
        ("resnet18", "resnet18", 3e-4, 2),
    ]
    listed = ArmGrid.model_validate(["gmf_2282", "resnet18"])
    assert [a.name for a in listed.resolve(train)] == ["gmf_2282", "resnet18"]
    with pytest.raises(ValueError, match="use one form"):
        ArmGrid.model_validate({"archs": ["vit_t"], "resnet18": {}})
    with pytest.raises(ValueError, match="momentum"):
        ArmGrid.model_validate({"resnet18": {"momentum": 0.9}})  # a typo fails loudly


def test_distill_takes_an_arm_of_the_ablation_by_name(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "distill_ablation:\n"
        "  arms: {gmf_2282: {lr: 1.0e-3}, slow: {arch: resnet18, epochs: 4}}\n"
        "distill:\n"
        "  arm: {arch: vit_t}\n"
        "  train: {lr: 3.0e-4, epochs: 2}\n"
    )
    slow = load_flow_params("distill", params, ["arm=slow"]).arm
    assert (slow.name, slow.arch, slow.lr, slow.epochs) == ("slow", "resnet18", 3e-4, 4)
    fast = load_flow_params("distill", params, ["arm=gmf_2282"]).arm
    assert (fast.name, fast.arch, fast.lr, fast.epochs) == ("gmf_2282", "gmf_2282", 1e-3, 2)
    with pytest.raises(ConfigError, match=r"'nope' is not in distill_ablation\.arms"):
        load_flow_params("distill", params, ["arm=nope"])
    with pytest.raises(ConfigError, match="params file has none"):
        load_flow_params("distill", None, ["arm=slow"])


def test_params_yaml_section_shared_sections_and_set(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "data: {root: /data/demo}\n"
        "teacher: {checkpoint: /ckpt/mobile_sam.pt}\n"
        "tracking: {runs_dir: /tmp/runs}\n"
        "distill_ablation:\n"
        "  arms: {archs: [gmf_2282, resnet18], extra: []}\n"
        "  train: {img_size: 256, epochs: 2}\n"
        "  data: {root: /data/own}\n"
    )
    got = load_flow_params("distill-ablation", params, ["train.epochs=5", "arms.lrs=[1e-3]"])
    assert isinstance(got, DistillAblationParams)
    assert got.train.img_size == 256 and got.train.epochs == 5
    assert [a.name for a in got.arms.resolve(got.train)] == ["gmf_2282", "resnet18"]
    assert got.arms.lrs == [1e-3]
    assert str(got.data.root) == "/data/own"  # the flow's own section wins
    assert got.teacher.checkpoint == "/ckpt/mobile_sam.pt"
    assert str(got.tracking.runs_dir) == "/tmp/runs"
    teacher = load_flow_params("teacher", params)
    assert teacher.img_size == 256 and teacher.teacher.checkpoint == "/ckpt/mobile_sam.pt"
    assert str(load_flow_params("data", params).data.root) == "/data/demo"
    study = load_flow_params("study", params, base=study_preset("toy"))
    assert study.distill_ablation.train.img_size == 256  # the file's section over the preset
    assert study.distill_ablation.train.batch_size == 4  # the preset's value kept


def test_bad_parameters_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown flow 'nope'"):
        load_flow_params("nope")
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_flow_params("distill-ablation", sets=["train.epochs=0"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_flow_params("pick", sets=["rule.margin"])
    with pytest.raises(ConfigError, match="unknown distillation option"):
        load_flow_params("distill", sets=["train.options={warmup: 3}"])
    with pytest.raises(ConfigError, match="params file not found"):
        load_flow_params("pick", tmp_path / "missing.yaml")


def test_every_flow_takes_exactly_its_model_fields() -> None:
    from flows.registry import FLOWS

    assert set(FLOWS) == set(FLOW_PARAMS)
    for name, flow in FLOWS.items():
        model = FLOW_PARAMS[name]
        signature = inspect.signature(flow.fn)
        assert set(signature.parameters) == set(model.model_fields), name
        for field, parameter in signature.parameters.items():
            assert parameter.default == model.model_fields[field].get_default(
                call_default_factory=True
            ), f"{name}.{field}"
        assert section_name(name) == name.replace("-", "_")
