"""Flow parameters: named arms, params.yaml sections, --set, and each flow taking its model."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from flows.params import (
    FLOW_PARAMS,
    TABLE2_ARMS,
    DistillAblationParams,
    load_flow_params,
    section_name,
)
from gms_models.errors import ConfigError
from gms_models.train.config import Arm, DistillSettings, arm_config

REPO = Path(__file__).resolve().parents[2]


def _resolved(name: str, arm: Arm, train: DistillSettings) -> tuple[str, str, float, int]:
    config = arm_config(name, arm, train, images=Path("i"), teacher=Path("t.pt"))
    return config.run_name, config.arch, config.lr, config.epochs


def test_default_arms_are_the_ten_students_of_table_2() -> None:
    arms = DistillAblationParams().arms
    assert arms == TABLE2_ARMS
    assert list(arms) == [
        "resnet18", "vit_t", "gmf_33124-lr3e-4", "gmf_3312", "gmf_3344", "gmf_2264",
        "gmf_2282-lr3e-4", "gmf_33124-lr3e-3", "gmf_33124-lr1e-3", "gmf_2282-lr1e-3",
    ]  # fmt: skip
    resolved = [_resolved(name, arm, DistillSettings()) for name, arm in arms.items()]
    assert all(epochs == 13 for *_, epochs in resolved)
    assert {arch for name, arch, *_ in resolved if name.startswith("gmf_33124")} == {"gmf_33124"}
    assert {lr for name, _, lr, _ in resolved if name.endswith("-lr3e-4")} == {3e-4}


def test_no_arms_or_a_bad_arm_is_refused() -> None:
    with pytest.raises(ValueError, match="no arms"):
        DistillAblationParams(arms={})
    with pytest.raises(ValueError, match="momentum"):
        DistillAblationParams.model_validate({"arms": {"resnet18": {"momentum": 0.9}}})
    with pytest.raises(ValueError, match="arms"):
        DistillAblationParams.model_validate({"arms": {"bad name": {}}})


def test_arms_are_a_mapping_of_named_arms() -> None:
    train = DistillSettings(lr=3e-4, epochs=2)
    named = DistillAblationParams.model_validate(
        {
            "arms": {
                "gmf_2282": {"lr": None},
                "fast": {"arch": "gmf_2282", "lr": 1e-3},
                "resnet18": {},
            }
        }
    ).arms
    assert [_resolved(name, arm, train) for name, arm in named.items()] == [
        ("gmf_2282", "gmf_2282", 3e-4, 2),
        ("fast", "gmf_2282", 1e-3, 2),
        ("resnet18", "resnet18", 3e-4, 2),
    ]


def test_teacher_size_defaults_to_img_size() -> None:
    assert DistillSettings(img_size=256).teacher_size == 256
    assert DistillSettings(img_size=256, teacher_size=1024).teacher_size == 1024
    assert (
        DistillSettings.model_validate({"img_size": 128, "teacher_size": None}).teacher_size == 128
    )


def test_distill_takes_an_arm_of_the_ablation_by_name(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "distill_ablation:\n"
        "  arms: {gmf_2282: {lr: 1.0e-3}, slow: {arch: resnet18, epochs: 4}}\n"
        "distill:\n"
        "  train: {lr: 3.0e-4, epochs: 2}\n"
    )
    slow = load_flow_params("distill", params, ["arm=slow"])
    assert _resolved(slow.arm, slow.arms[slow.arm], slow.train) == ("slow", "resnet18", 3e-4, 4)
    fast = load_flow_params("distill", params, ["arm=gmf_2282"])
    assert _resolved(fast.arm, fast.arms[fast.arm], fast.train) == (
        "gmf_2282", "gmf_2282", 1e-3, 2,
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"'nope' is not in arms \(gmf_2282, slow\)"):
        load_flow_params("distill", params, ["arm=nope"])
    with pytest.raises(ConfigError, match=r"'slow' is not in arms"):
        load_flow_params("distill", None, ["arm=slow"])


def test_params_yaml_section_shared_sections_and_set(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "data: {root: /data/demo}\n"
        "teacher: {checkpoint: /ckpt/mobile_sam.pt}\n"
        "tracking: {runs_dir: /tmp/runs}\n"
        "distill_ablation:\n"
        "  arms: {gmf_2282: {}, resnet18: {}}\n"
        "  train: {img_size: 256, epochs: 2}\n"
        "  data: {root: /data/own}\n"
    )
    got = load_flow_params("distill-ablation", params, ["train.epochs=5", "arms.resnet18.lr=1e-3"])
    assert isinstance(got, DistillAblationParams)
    assert got.train.img_size == 256 and got.train.epochs == 5
    assert got.arms == {"gmf_2282": Arm(), "resnet18": Arm(lr=1e-3)}
    assert str(got.data.root) == "/data/own"  # the flow's own section wins
    assert got.teacher.checkpoint == "/ckpt/mobile_sam.pt"
    assert str(got.tracking.runs_dir) == "/tmp/runs"
    teacher = load_flow_params("teacher", params)
    assert teacher.train.teacher_size == 256
    assert teacher.teacher.checkpoint == "/ckpt/mobile_sam.pt"
    assert str(load_flow_params("data", params).data.root) == "/data/demo"
    study = load_flow_params("study", params, ["distill_ablation.train.batch_size=4"])
    assert study.distill_ablation.train.img_size == 256
    assert study.distill_ablation.train.batch_size == 4


def test_gms_study_and_gms_run_study_read_the_committed_params_yaml() -> None:
    from gms_cli.cmd_run import TOY_PARAMS

    assert TOY_PARAMS == REPO / "params.yaml"
    toy = load_flow_params("study", TOY_PARAMS)
    assert list(toy.distill_ablation.arms) == ["gmf_2282", "gmf_3344", "resnet18"]
    assert (toy.distill_ablation.train.img_size, toy.distill_ablation.train.epochs) == (128, 2)
    assert toy.distill_ablation.pick is None and toy.torch_threads == 1


def test_bad_parameters_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown flow 'nope'"):
        load_flow_params("nope")
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_flow_params("distill-ablation", sets=["train.epochs=0"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_flow_params("pick", sets=["rule.margin"])
    with pytest.raises(ConfigError, match=r"train\.warmup"):
        load_flow_params("distill", sets=["train.warmup=3"])
    with pytest.raises(ConfigError, match="not found"):
        load_flow_params("pick", tmp_path / "missing.yaml")


def test_every_flow_takes_its_model_as_its_one_parameter() -> None:
    """... plus, for distill-ablation, ``preset`` (beside ``params``, so that a deployment's
    preset survives ``--param params=...``, which replaces ``params`` as a whole)."""
    from flows.registry import all_flows

    assert set(all_flows()) == set(FLOW_PARAMS)
    for name, flow in all_flows().items():
        model = FLOW_PARAMS[name]
        parameter, *others = inspect.signature(flow.fn).parameters.values()
        assert [(p.name, p.default) for p in others] == (
            [("preset", None)] if name == "distill-ablation" else []
        )
        assert parameter.name == "params" and parameter.annotation in (model, model.__name__)
        assert parameter.default == model(), name
        extra = {p.name: p.default for p in others}
        assert flow.validate_parameters({"params": {}}) == {"params": model(), **extra}, name
        assert section_name(name) == name.replace("-", "_")
