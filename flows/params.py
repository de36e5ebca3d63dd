"""One parameter model per flow, shared by the flows, `gms run` / `gms study` and params.yaml."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, model_validator

from gms_models.classify.config import ClassifyConfig
from gms_models.errors import ConfigError, validate
from gms_models.train.config import (
    Arm,
    Arms,
    DistillSettings,
    RunName,
    merge_layers,
    read_yaml_mapping,
)
from tasks.specs import (
    DataSpec,
    EvalSpec,
    ExportSpec,
    PickRule,
    Settings,
    TeacherSource,
    TrackingSpec,
)

#: Table 2's students: one arm per arch at the paper's lr, plus the extra lrs.
TABLE2_ARMS: Arms = {
    "resnet18": Arm(),
    "vit_t": Arm(),
    "gmf_33124-lr3e-4": Arm(arch="gmf_33124", lr=3e-4),
    "gmf_3312": Arm(),
    "gmf_3344": Arm(),
    "gmf_2264": Arm(),
    "gmf_2282-lr3e-4": Arm(arch="gmf_2282", lr=3e-4),
    "gmf_33124-lr3e-3": Arm(arch="gmf_33124", lr=3e-3),
    "gmf_33124-lr1e-3": Arm(arch="gmf_33124", lr=1e-3),
    "gmf_2282-lr1e-3": Arm(arch="gmf_2282", lr=1e-3),
}
SHARED_SECTIONS = ("data", "teacher", "tracking", "torch_threads")
Dispatch = Literal["local", "deployments"]
Preset = Literal["paper"]
PRESETS: tuple[str, ...] = get_args(Preset)
#: ``preset: paper``: Table 2's setup (../PAPER.md), put under the parameters given. The arms
#: (:data:`TABLE2_ARMS`: each lr of the table, 13 epochs) are the model's default already.
PAPER_PRESET: dict[str, Any] = {
    "train": {"img_size": 1024, "teacher_size": 1024, "batch_size": 8, "lr": 3e-4, "epochs": 13},
    "data": {"generate_demo": False},
    "evaluate": {"max_images": None},
    "dispatch": "deployments",
}
#: ``gms study --quick``: the toy study made smaller.
QUICK_SETS = (
    "distill_ablation.train.epochs=1",
    "distill_ablation.evaluate.max_images=4",
    "distill_ablation.evaluate.mask_grid_images=1",
    "segment_eval.grid_images=1",
    "encoder_selection.classify.families=[gmf_m]",
)


class FlowParams(Settings):
    tracking: TrackingSpec = TrackingSpec()
    torch_threads: int | None = Field(
        None, gt=0, description="torch intra-op threads (None: torch's default)"
    )


class DataParams(FlowParams):
    """``data``: generate or check the data folder."""

    data: DataSpec = DataSpec()


class TeacherParams(FlowParams):
    """``teacher``: resolve the checkpoint, build its engine for ``train`` (params.yaml:
    ``distill_ablation.train``)."""

    teacher: TeacherSource = TeacherSource()
    train: DistillSettings = DistillSettings()


class DistillAblationParams(FlowParams):
    """``distill-ablation`` (Table 2): every arm distilled, exported and evaluated; the table,
    the Pareto plot, and (with ``pick``) the champion."""

    experiment: str = "table2-distill-ablation"
    arms: Arms = Field(default_factory=lambda: dict(TABLE2_ARMS))
    train: DistillSettings = DistillSettings()
    export: ExportSpec = ExportSpec()
    evaluate: EvalSpec = EvalSpec()
    pick: PickRule | None = PickRule()
    data: DataSpec = DataSpec()
    teacher: TeacherSource = TeacherSource()
    train_together: bool = Field(
        True, description="train arms sharing a data recipe together (one teacher pass per batch)"
    )
    dispatch: Dispatch = Field(
        "local",
        description="local: train the arm groups in this flow run; deployments: each group is "
        "a flow run of the `distill` deployment, taken by any worker of its pool",
    )
    arm_deployment: str = Field(
        "distill/default", description="the deployment of the groups with dispatch: deployments"
    )
    arm_retries: int = Field(
        1,
        ge=0,
        description="re-runs of a group's flow run that crashed or failed (its worker "
        "died): it resumes from the last checkpoint in the work folder",
    )

    @model_validator(mode="after")
    def _check(self) -> DistillAblationParams:
        if not self.arms:
            raise ValueError("the ablation has no arms")
        if self.pick is not None and (
            not self.export.enabled or self.export.register_model is None
        ):
            raise ValueError("pick needs export.enabled and export.register_model")
        return self


class DistillParams(FlowParams):
    """``distill``: arm ``arm`` of ``arms`` (params.yaml: ``distill_ablation.arms`` unless given)
    distilled, exported, evaluated; ``arm`` a list: a group over one teacher pass."""

    experiment: str = "distill"
    arm: RunName | list[RunName] = "gmf_2282"
    arms: Arms = Field(default_factory=lambda: {"gmf_2282": Arm()})
    train: DistillSettings = DistillSettings()
    export: ExportSpec = ExportSpec()
    evaluate: EvalSpec = EvalSpec()
    data: DataSpec = DataSpec()
    teacher: TeacherSource = TeacherSource()
    share_teacher_pass: bool = Field(
        False,
        description="also train the other arms of `arms` that share the data recipe of `arm` "
        "in its teacher pass, into their work folders (their own runs then find them done): "
        "one-arm runs of a recipe's arms share a teacher pass this way",
    )

    @property
    def arm_names(self) -> list[str]:
        return [self.arm] if isinstance(self.arm, str) else list(self.arm)

    @model_validator(mode="after")
    def _arm_is_listed(self) -> DistillParams:
        unknown = [name for name in self.arm_names if name not in self.arms]
        if unknown or not self.arm_names:
            raise ValueError(
                f"arm {', '.join(map(repr, unknown)) or '[]'} is not in arms "
                f"({', '.join(self.arms)})"
            )
        return self


class SegmentEvalParams(FlowParams):
    """``segment-eval`` (Table 3): an ablation's arms on MALSD hand points vs the teacher."""

    experiment: str = "table3-segment-eval"
    ablation_experiment: str = "table2-distill-ablation"
    ablation_run_id: str | None = Field(None, description="None = the newest finished ablation")
    arms: list[str] | None = Field(None, description="None = every finished arm of that run")
    grid_images: int = Field(2, ge=0)
    device: str = "auto"
    data: DataSpec = DataSpec()
    teacher: TeacherSource = TeacherSource()


class EncoderSelectionParams(FlowParams):
    """``encoder-selection`` (Table 1): the twelve families trained as Act0/NG classifiers."""

    experiment: str = "table1-encoder-selection"
    classify: ClassifyConfig = ClassifyConfig()
    data: DataSpec = DataSpec()


class PickParams(FlowParams):
    """``pick``: choose the champion among an ablation run's arms."""

    experiment: str = "table2-distill-ablation"
    ablation_run_id: str | None = Field(None, description="None = the newest finished ablation")
    rule: PickRule = PickRule()
    model_name: str = "gms-encoder"


class StudyParams(FlowParams):
    """``study``: data → teacher → ablation → segment-eval → encoder-selection → pick; its
    ``data``, ``teacher``, ``tracking`` and ``torch_threads`` replace those of every part."""

    data: DataSpec = DataSpec()
    teacher: TeacherSource = TeacherSource()
    distill_ablation: DistillAblationParams = DistillAblationParams(pick=None)
    segment_eval: SegmentEvalParams = SegmentEvalParams()
    encoder_selection: EncoderSelectionParams | None = EncoderSelectionParams()
    pick: PickParams = PickParams()

    def part(self, name: str) -> Any:
        """The params of part ``name`` with the shared sections of the study put in."""
        part = getattr(self, name)
        shared = {k: getattr(self, k) for k in SHARED_SECTIONS}
        return part.model_copy(
            update={k: v for k, v in shared.items() if k in type(part).model_fields}
        )


def paper_problems(params: DistillAblationParams) -> list[str]:
    """Why ``params`` cannot be the paper's run; lr and epochs may differ (a shorter first try)."""
    problems = []
    if params.teacher.checkpoint is None:
        problems.append(
            "teacher.checkpoint is required: a mobile_sam.pt path or http(s) URL "
            "(without it the teacher has random weights)"
        )
    if params.teacher.sha256 is None:
        problems.append("teacher.sha256 is required: the checkpoint's sha256 (64 hex digits)")
    setup = {"img_size": 1024, "teacher_size": 1024, "batch_size": 8}
    problems += [
        f"train.{name} must be {value} as in Table 2, got {getattr(params.train, name)}"
        for name, value in setup.items()
        if getattr(params.train, name) != value
    ]
    if params.data.generate_demo:
        problems.append(
            "data.generate_demo must be false: the paper runs on real data in "
            f"{params.data.root} (`gms data fetch --source remote` or `--source coco`)"
        )
    return problems


def apply_preset(params: DistillAblationParams, preset: Preset | None) -> DistillAblationParams:
    """``params`` (the fields given) over ``preset``'s values, checked; cheap, so a flow calls it
    before any work."""
    if preset is None:
        return params
    given = params.model_dump(mode="json", exclude_unset=True)
    merged = validate(
        DistillAblationParams,
        merge_layers(PAPER_PRESET, given),
        f"parameters of the {preset} preset",
    )
    problems = paper_problems(merged)
    if problems:
        raise ConfigError(f"the {preset} preset refuses these parameters: " + "; ".join(problems))
    return merged


FLOW_PARAMS: dict[str, type[FlowParams]] = {
    "data": DataParams,
    "teacher": TeacherParams,
    "distill": DistillParams,
    "distill-ablation": DistillAblationParams,
    "segment-eval": SegmentEvalParams,
    "encoder-selection": EncoderSelectionParams,
    "pick": PickParams,
    "study": StudyParams,
}


def section_name(flow: str) -> str:
    return flow.replace("-", "_")


def _section_values(flow: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """``flow``'s section of params.yaml (``distill`` falls back on ``distill_ablation.arms``,
    ``teacher`` takes ``distill_ablation.train``) and the shared ones."""
    model = FLOW_PARAMS[flow]
    ablation = document.get("distill_ablation") or {}
    if flow == "study":
        values = {k: v for k, v in document.items() if k in model.model_fields}
    elif flow == "teacher":
        values = {"train": ablation["train"]} if "train" in ablation else {}
    elif flow == "data":
        values = {}
    else:
        section = document.get(section_name(flow)) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"section {section_name(flow)!r} must be a mapping of parameters")
        values = dict(section)
        if flow == "distill" and "arms" not in values and "arms" in ablation:
            values["arms"] = ablation["arms"]
    for shared in SHARED_SECTIONS:
        if shared in model.model_fields and shared not in values and shared in document:
            values[shared] = document[shared]
    return values


def load_flow_params(
    flow: str, params_file: Path | None = None, sets: Sequence[str] = ()
) -> FlowParams:
    """``flow``'s section and the shared ones of ``params_file`` over the defaults, then the
    ``--set`` assignments (dotted ``KEY=VALUE``)."""
    if flow not in FLOW_PARAMS:
        raise ConfigError(f"unknown flow {flow!r}; flows: {', '.join(FLOW_PARAMS)}")
    document = read_yaml_mapping(Path(params_file)) if params_file is not None else {}
    values = merge_layers(_section_values(flow, document), sets=sets)
    source = f" from {params_file}" if params_file is not None else ""
    return validate(FLOW_PARAMS[flow], values, f"parameters of flow {flow!r}{source}")
