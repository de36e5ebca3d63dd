"""One parameter model per flow, shared by the flows, the CLI (``gms run``) and ``params.yaml``.

A flow's keyword parameters are exactly its model's fields (a test keeps them in step), so a
deployment run can override one section at a time::

    prefect deployment run 'distill-ablation/toy' --param arms='{"archs": ["gmf_2282"]}'

(a section given this way replaces that whole section; fields left out take the model's
defaults, not the deployment's).

``params.yaml`` (read by ``gms run FLOW --params params.yaml`` and by ``dvc repro``) has one
section per flow, named as the flow with underscores, plus the shared sections ``data``,
``teacher`` and ``tracking``, which fill the flow's own ``data``/``teacher``/``tracking`` fields
unless its section sets them. An example (the toy study of ``gms study``)::

    data:
      root: data                  # generated demo data unless it exists (data.dvc tracks it)
      demo_scale: small
    teacher:
      checkpoint: null            # null = random weights (loudly reported); or a path / URL
    tracking:
      runs_dir: runs              # mlflow store: runs/mlflow.db unless MLFLOW_TRACKING_URI
    distill_ablation:
      experiment: table2-distill-ablation
      arms:
        archs: [gmf_2282, gmf_3344, resnet18]
        lrs: null                 # null = train.lr; a list makes a grid arch × lr × epochs
        epochs: null
        extra: []                 # more arms: {arch, lr, epochs, name}
      train: {img_size: 128, batch_size: 4, epochs: 2, lr: 1.0e-3, num_workers: 0}
      evaluate: {max_images: 8, latency_runs: 3}
      export: {opset: 17, register_model: gms-encoder}
      pick: null                  # the study picks in its own step
    segment_eval:
      grid_images: 2
    encoder_selection:
      classify: {families: [vit, levit, gmf_m], img_size: 112, epochs: 1, batch_size: 8}
    pick:
      rule: {runtime: onnxruntime, margin: 0.01, reference: teacher, alias: champion}

``GMS_RUN_SOURCE=dvc`` in the environment tags the MLflow runs ``gms.source=dvc``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from gms_models.classify import ClassifyConfig
from gms_models.tables import format_lr
from tasks.specs import (
    ArmOverride,
    ArmSpec,
    DataSpec,
    EvalSpec,
    ExportSpec,
    PickRule,
    Settings,
    TeacherSource,
    TrackingSpec,
    TrainSpec,
)

#: Table 2's students: one arm per arch at the default lr, plus the extra lrs below.
TABLE2_ARCHS = ["resnet18", "vit_t", "gmf_33124", "gmf_3312", "gmf_3344", "gmf_2264", "gmf_2282"]
TABLE2_EXTRA = [
    ArmOverride(arch="gmf_33124", lr=3e-3),
    ArmOverride(arch="gmf_33124", lr=1e-3),
    ArmOverride(arch="gmf_2282", lr=1e-3),
]
SHARED_SECTIONS = ("data", "teacher", "tracking")


class ArmGrid(Settings):
    """The arms of an ablation: ``archs × lrs × epochs``, plus ``extra`` arms.

    An arm is named by its arch (the encoder registry name); arms sharing an arch get
    ``-lr<lr>`` and/or ``-e<epochs>`` suffixes for whichever of the two differs among them.

    Two shorter spellings are accepted: a list of archs (``[gmf_2282, resnet18]``: the grid at
    ``train.lr`` and ``train.epochs``), and a mapping of named arms, each with its own settings::

        arms:
          gmf_2282: {lr: null, epochs: null}      # null = train.lr / train.epochs
          gmf_2282-fast: {arch: gmf_2282, lr: 1.0e-3}
          resnet18: {}                            # arch = the arm's name by default

    The mapping form lets DVC key one stage per arm on ``distill_ablation.arms.<name>`` alone.
    """

    archs: list[str] = Field(default_factory=lambda: list(TABLE2_ARCHS))
    lrs: list[float] | None = Field(None, description="None = train.lr")
    epochs: list[int] | None = Field(None, description="None = train.epochs")
    extra: list[ArmOverride] = Field(default_factory=lambda: list(TABLE2_EXTRA))

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"archs": value, "extra": []}
        if not isinstance(value, dict) or set(value) <= set(cls.model_fields):
            return value
        if set(value) & set(cls.model_fields):
            raise ValueError(
                f"arms mixes grid keys {sorted(set(value) & set(cls.model_fields))} with arm "
                f"names {sorted(set(value) - set(cls.model_fields))}: use one form"
            )
        extra = []
        for name, spec in value.items():
            spec = dict(spec or {})
            if not isinstance(name, str) or not name:
                raise ValueError(f"arm names must be non-empty strings, got {name!r}")
            extra.append({"arch": name, **spec, "name": name})
        return {"archs": [], "extra": extra}

    def resolve(self, train: TrainSpec) -> list[ArmSpec]:
        """The arms in order (grid first, then ``extra``), named; duplicates are refused."""
        lrs = self.lrs or [train.lr]
        epochs = self.epochs or [train.epochs]
        drafts = [
            ArmOverride(arch=arch, lr=lr, epochs=e)
            for arch in self.archs
            for lr in lrs
            for e in epochs
        ] + list(self.extra)
        filled = [(d, d.lr or train.lr, d.epochs or train.epochs) for d in drafts]
        by_arch: dict[str, list[tuple[float, int]]] = {}
        for draft, lr, n in filled:
            by_arch.setdefault(draft.arch, []).append((lr, n))
        arms = []
        for draft, lr, n in filled:
            siblings = by_arch[draft.arch]
            name = draft.arch
            if len({s[0] for s in siblings}) > 1:
                name += f"-lr{format_lr(lr)}"
            if len({s[1] for s in siblings}) > 1:
                name += f"-e{n}"
            arms.append(ArmSpec(name=draft.name or name, arch=draft.arch, lr=lr, epochs=n))
        twice = sorted(n for n, count in Counter(a.name for a in arms).items() if count > 1)
        if twice:
            raise ValueError(f"arms {twice} appear more than once (same arch, lr and epochs)")
        if not arms:
            raise ValueError("the ablation has no arms (arms.archs and arms.extra are empty)")
        return arms


class FlowParams(Settings):
    """Fields every flow has."""

    tracking: TrackingSpec = TrackingSpec()
    torch_threads: int | None = Field(
        None, gt=0, description="torch intra-op threads (None: torch's default)"
    )

    def flow_kwargs(self) -> dict[str, Any]:
        """The flow's keyword arguments: one per field, as the model holds them."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class DataParams(FlowParams):
    """``data``: generate or check the data folder."""

    data: DataSpec = DataSpec()


class TeacherParams(FlowParams):
    """``teacher``: resolve the teacher checkpoint and build its engine at the training size."""

    teacher: TeacherSource = TeacherSource()
    img_size: int = Field(1024, gt=0, multiple_of=16)
    device: str = "auto"
    batch_size: int = Field(8, gt=0)


class DistillAblationParams(FlowParams):
    """``distill-ablation`` (Table 2): every arm distilled, exported and evaluated; the table,
    the Pareto plot, and (with ``pick``) the champion."""

    experiment: str = "table2-distill-ablation"
    arms: ArmGrid = ArmGrid()
    train: TrainSpec = TrainSpec()
    export: ExportSpec = ExportSpec()
    evaluate: EvalSpec = EvalSpec()
    pick: PickRule | None = PickRule()
    data: DataSpec = DataSpec()
    teacher: TeacherSource = TeacherSource()
    train_together: bool = Field(
        True, description="train arms sharing a data recipe together (one teacher pass per batch)"
    )

    @model_validator(mode="after")
    def _arms_resolve(self) -> DistillAblationParams:
        self.arms.resolve(self.train)
        if self.pick is not None and (
            not self.export.enabled or self.export.register_model is None
        ):
            raise ValueError("pick needs export.enabled and export.register_model")
        return self


class DistillParams(FlowParams):
    """``distill``: one arm distilled, exported and evaluated."""

    experiment: str = "distill"
    arm: ArmOverride = ArmOverride(arch="gmf_2282")
    train: TrainSpec = TrainSpec()
    export: ExportSpec = ExportSpec()
    evaluate: EvalSpec = EvalSpec()
    data: DataSpec = DataSpec()
    teacher: TeacherSource = TeacherSource()


class SegmentEvalParams(FlowParams):
    """``segment-eval`` (Table 3): the arms of an ablation run scored with hand-point prompts on
    MALSD against the teacher's masks."""

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
    """``pick``: choose the champion among an ablation run's arms (see :class:`PickRule`)."""

    experiment: str = "table2-distill-ablation"
    ablation_run_id: str | None = Field(None, description="None = the newest finished ablation")
    rule: PickRule = PickRule()
    model_name: str = "gms-encoder"


class StudyParams(FlowParams):
    """``study``: data → teacher → ablation → segment-eval → encoder-selection → pick.

    ``data``, ``teacher``, ``tracking`` and ``torch_threads`` here replace those of every part.
    """

    data: DataSpec = DataSpec()
    teacher: TeacherSource = TeacherSource()
    distill_ablation: DistillAblationParams = DistillAblationParams(pick=None)
    segment_eval: SegmentEvalParams = SegmentEvalParams()
    encoder_selection: EncoderSelectionParams | None = EncoderSelectionParams()
    pick: PickParams = PickParams()

    def part(self, name: str) -> Any:
        """The params of part ``name`` with the shared sections of the study put in."""
        part = getattr(self, name)
        shared = {k: getattr(self, k) for k in (*SHARED_SECTIONS, "torch_threads")}
        return part.model_copy(
            update={k: v for k, v in shared.items() if k in type(part).model_fields}
        )


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
    """The params.yaml section of ``flow``: its name with underscores."""
    return flow.replace("-", "_")


Preset = Literal["toy", "quick"]


def study_preset(preset: Preset = "toy") -> StudyParams:
    """The toy study of ``gms study`` (CPU, a few minutes), or its ``quick`` smoke version.

    Toy: 3 arms (gmf_2282, gmf_3344, resnet18) at 128 px, 2 epochs over the demo images, 8 COCO
    images, 3 Table 1 families for one epoch. Quick: 1 epoch, 4 COCO images, 1 family.
    """
    quick = preset == "quick"
    train = TrainSpec(
        img_size=128, batch_size=4, lr=1e-3, epochs=1 if quick else 2, num_workers=0, device="auto"
    )
    evaluate = EvalSpec(
        max_images=4 if quick else 8,
        mask_grid_images=1 if quick else 2,
        latency_runs=3,
        evaluate_teacher=True,
    )
    ablation = DistillAblationParams(
        arms=ArmGrid(archs=["gmf_2282", "gmf_3344", "resnet18"], extra=[]),
        train=train,
        evaluate=evaluate,
        pick=None,
    )
    families = ["gmf_m"] if quick else ["vit", "levit", "gmf_m"]
    selection = EncoderSelectionParams(
        classify=ClassifyConfig(
            families=families,
            img_size=112,
            epochs=1,
            batch_size=8,
            warmup_epochs=0,
            compare_with_paper=False,
        )
    )
    return StudyParams(
        torch_threads=1,
        distill_ablation=ablation,
        segment_eval=SegmentEvalParams(grid_images=1 if quick else 2),
        encoder_selection=selection,
        pick=PickParams(),
    )


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _section_values(flow: str, document: dict[str, Any]) -> dict[str, Any]:
    """The values of ``flow`` in a params.yaml document (see the module docstring)."""
    model = FLOW_PARAMS[flow]
    if flow == "study":
        values = {k: v for k, v in document.items() if k in model.model_fields}
    elif flow == "teacher":
        train = (document.get("distill_ablation") or {}).get("train") or {}
        values = {k: train[k] for k in ("device", "batch_size") if k in train}
        size = train.get("teacher_size") or train.get("img_size")
        if size is not None:
            values["img_size"] = size
    elif flow == "data":
        values = {}
    else:
        section = document.get(section_name(flow)) or {}
        if not isinstance(section, dict):
            raise ValueError(f"section {section_name(flow)!r} must be a mapping of parameters")
        values = dict(section)
    for shared in (*SHARED_SECTIONS, "torch_threads"):
        if shared in model.model_fields and shared not in values and shared in document:
            values[shared] = document[shared]
    return values


def parse_set(assignment: str) -> dict[str, Any]:
    """``train.epochs=3`` → ``{"train": {"epochs": 3}}`` (the value read as YAML)."""
    import yaml

    from gms_models.errors import ConfigError

    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set takes KEY=VALUE (dotted keys, e.g. train.epochs=3), got {assignment!r}"
        )
    try:
        value: Any = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {assignment}: the value is not valid YAML: {exc}") from None
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def _arm_by_name(values: dict[str, Any], document: dict[str, Any] | None) -> dict[str, Any]:
    """``distill``'s ``arm: <name>``: that arm of ``distill_ablation.arms`` in the params file,
    resolved with the one-arm flow's own ``train`` (its lr and epochs filled in)."""
    name = values["arm"]
    ablation = (document or {}).get("distill_ablation") or {}
    if "arms" not in ablation:
        raise ValueError(
            f"arm {name!r} names an arm of distill_ablation.arms, but the params file has none"
        )
    train = TrainSpec.model_validate(values.get("train") or {})
    arms = ArmGrid.model_validate(ablation["arms"]).resolve(train)
    found = next((arm for arm in arms if arm.name == name), None)
    if found is None:
        known = ", ".join(arm.name for arm in arms)
        raise ValueError(f"arm {name!r} is not in distill_ablation.arms ({known})")
    return {**values, "arm": found.model_dump()}


def load_flow_params(
    flow: str,
    params_file: Path | None = None,
    sets: Sequence[str] = (),
    base: FlowParams | None = None,
) -> FlowParams:
    """The parameters of ``flow``: ``base`` (default: the model's defaults), updated by the flow's
    section of ``params_file`` and the shared sections, then by ``--set`` assignments."""
    import yaml
    from pydantic import ValidationError

    from gms_models.errors import ConfigError

    if flow not in FLOW_PARAMS:
        raise ConfigError(f"unknown flow {flow!r}; flows: {', '.join(FLOW_PARAMS)}")
    model = FLOW_PARAMS[flow]
    values: dict[str, Any] = base.model_dump(mode="json", exclude_unset=False) if base else {}
    source = "the defaults"
    document: dict[str, Any] | None = None
    if params_file is not None:
        params_file = Path(params_file)
        if not params_file.is_file():
            raise ConfigError(f"params file not found: {params_file}")
        try:
            document = yaml.safe_load(params_file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{params_file} is not valid YAML: {exc}") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{params_file} must hold a mapping of sections")
        try:
            values = _deep_merge(values, _section_values(flow, document))
        except ValueError as exc:
            raise ConfigError(
                f"invalid parameters of flow {flow!r} in {params_file}: {exc}"
            ) from None
        source = f"{params_file} (section {section_name(flow)!r} and shared sections)"
    for assignment in sets:
        values = _deep_merge(values, parse_set(assignment))
    try:
        if flow == "distill" and isinstance(values.get("arm"), str):
            values = _arm_by_name(values, document)
        return model.model_validate(values)
    except ValueError as exc:
        if not isinstance(exc, ValidationError):
            raise ConfigError(f"invalid parameters of flow {flow!r}: {exc}") from None
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(params)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(
            f"invalid parameters of flow {flow!r} from {source}: {problems}"
        ) from None
