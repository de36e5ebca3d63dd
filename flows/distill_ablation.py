"""``distill-ablation`` (Table 2) and ``distill`` (one arm or group). A failed arm keeps its row
with the step and reason; the flow fails only when every arm failed."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from pydantic import Field

from flows.common import RANDOM_TEACHER_NOTE, FlowSetup, FlowSummary, fan_out, setup_flow
from flows.dispatch import run_groups
from flows.params import DistillAblationParams, DistillParams, Preset, apply_preset
from gms_models.errors import ConfigError
from gms_models.tables import AblationRow, failure_status
from gms_models.train import DistillConfig
from gms_models.train.config import Arms
from tasks.data import prepare_data
from tasks.distill import GroupOutputs, distill_configs, distill_group_task, distilled_arm
from tasks.evaluate import evaluate_arm, evaluate_teacher, resolve_reference
from tasks.execution import StepFuture, call, failure_of, in_flow_run, run_logger, submit
from tasks.export import export_arm
from tasks.registry import describe_version
from tasks.results import DataInfo, DistillOutputs, EvalOutputs, ExportOutputs, RunRef, TeacherInfo
from tasks.selection import PickOutputs, pick_encoder
from tasks.specs import PickRule
from tasks.store import push
from tasks.tables import TABLE2_STEM, write_ablation_table
from tasks.teacher import prepare_teacher
from tasks.tracking import log_metrics, log_params


class AblationSummary(FlowSummary):
    rows: list[AblationRow]
    champion: PickOutputs | None = None
    groups: list[GroupOutputs] = Field(default_factory=list)

    @property
    def failures(self) -> dict[str, str]:
        return {row.model: row.status for row in self.rows if row.role == "S" and not row.ok}


@dataclass(frozen=True)
class ArmGroup:
    """Arms trained together by one task; ``companions`` only fill their work folders."""

    label: str
    arms: tuple[DistillConfig, ...]
    device: str
    companions: tuple[DistillConfig, ...] = ()

    @property
    def description(self) -> str:  # the table's Group column: "g1: gmf_2282, resnet18"
        return f"{self.label}: {', '.join(a.run_name for a in self.arms)}"


def group_arms(
    arms: list[DistillConfig], device: str, *, together: bool, companions: Sequence[DistillConfig]
) -> list[ArmGroup]:
    """The training groups g1, g2, ... of ``arms`` (in order of first arm): with ``together``, arms
    (and ``companions``) sharing a data recipe, packed onto the devices by memory; else one arm
    each. An unknown arch is alone (its task fails with the registry's message)."""
    from gms_models.registry import list_encoders
    from gms_models.train import detect_devices, group_by_recipe, pack_groups

    Part = tuple[tuple[DistillConfig, ...], tuple[DistillConfig, ...], str]
    if not together:
        parts: list[Part] = [((arm,), (), device) for arm in arms]
    else:
        known = set(list_encoders())
        by_name = {arm.run_name: arm for arm in arms}
        extra = {c.run_name: c for c in companions if c.arch in known and c.run_name not in by_name}
        packed = pack_groups(
            group_by_recipe([c for c in [*arms, *extra.values()] if c.arch in known]),
            detect_devices(device),
        )
        parts = [
            (
                tuple(by_name[n] for n in a.names if n in by_name),
                tuple(extra[n] for n in a.names if n in extra),
                a.device.name,
            )
            for a in packed
        ]
        parts = [part for part in parts if part[0]]  # companions alone are not trained here
        parts += [((arm,), (), device) for arm in arms if arm.arch not in known]
        order = {arm.run_name: i for i, arm in enumerate(arms)}
        parts.sort(key=lambda part: order[part[0][0].run_name])
    return [
        ArmGroup(f"g{i}", members, where, joining)
        for i, (members, joining, where) in enumerate(parts, start=1)
    ]


@dataclass
class ArmFutures:
    arm: DistillConfig
    group: ArmGroup
    run: RunRef
    trained: StepFuture[GroupOutputs]
    distill: StepFuture[DistillOutputs]
    export: StepFuture[ExportOutputs] | None
    evaluate: StepFuture[EvalOutputs]


def submit_group(
    group: ArmGroup,
    runs: dict[str, RunRef],
    params: DistillAblationParams,
    data: DataInfo,
    teacher: TeacherInfo,
    setup: FlowSetup,
) -> list[ArmFutures]:
    trained = submit(
        distill_group_task, group.label, [*group.arms, *group.companions], data, teacher,
        setup.runs_dir, setup.code, runs={arm.run_name: runs[arm.run_name] for arm in group.arms},
        profile_img_size=params.evaluate.profile_img_size, device=group.device,
    )  # fmt: skip
    submitted = []
    for arm in group.arms:
        run = runs[arm.run_name]
        distilled = submit(distilled_arm, trained, arm.run_name, run=run)
        exported = None
        if params.export.enabled:
            exported = submit(
                export_arm.with_options(task_run_name=f"export-{arm.run_name}"), distilled,
                teacher, params.export, params.evaluate.latency_runtimes,
                params.evaluate.latency_runs, setup.runs_dir, setup.code, run=run,
                device=params.train.device,
            )  # fmt: skip
        evaluated = submit(
            evaluate_arm.with_options(task_run_name=f"evaluate-{arm.run_name}"), distilled,
            teacher, data, params.evaluate, setup.runs_dir, setup.code, run=run,
            device=params.train.device,
        )  # fmt: skip
        submitted.append(ArmFutures(arm, group, run, trained, distilled, exported, evaluated))
    return submitted


def _arm_row(arm: DistillConfig, group: ArmGroup, run: RunRef, status: str = "ok") -> AblationRow:
    return AblationRow(
        model=arm.run_name,
        arch=arm.arch,
        lr=arm.lr,
        epochs=arm.epochs,
        run_id=run.run_id,
        group=group.description,
        status=status,
    )


def arm_row(futures: ArmFutures) -> AblationRow:
    row = _arm_row(futures.arm, futures.group, futures.run)
    # a failed group task leaves its arms' tasks not run: its reason is the arms' reason
    failures = {
        "distill": failure_of(futures.trained) or failure_of(futures.distill),
        "export": failure_of(futures.export),
        "evaluate": failure_of(futures.evaluate),
    }
    failed = [(step, why) for step, why in failures.items() if why is not None]
    if failed:
        row.status = failure_status(*failed[0])
    if failures["distill"] is None:
        distilled = futures.distill.result()
        for key in ("depths", "last_loss", "params_m", "macs_g"):
            setattr(row, key, getattr(distilled, key))
        if futures.export is not None and failures["export"] is None:
            row.latency_ms = dict(futures.export.result().latency_ms)
        if failures["evaluate"] is None:
            _set_miou(row, futures.evaluate.result().metrics)
    return row


def _set_miou(row: AblationRow, metrics: Mapping[str, float]) -> None:
    for key in ("miou", "miou_small", "miou_medium", "miou_large"):  # an empty bin stays None
        setattr(row, key, metrics.get(key))


def arm_params(arm: DistillConfig, teacher: TeacherInfo) -> dict[str, object]:
    """Logged on the arm's run before it starts, so a failed arm still shows what it was."""
    return {
        **arm.model_dump(mode="json", exclude={"out_dir", "device"}),
        "arm": arm.run_name,
        "teacher_source": teacher.source,
        "teacher_random": teacher.random,
        "teacher_sha256": teacher.sha256,
    }


def _notes(
    params: DistillAblationParams, teacher: TeacherInfo, data: DataInfo, reference: str
) -> list[str]:
    train = params.train
    notes = [
        f"Setup: student input {train.img_size}, "
        f"teacher input {train.teacher_size}, "
        f"batch {train.batch_size}, seed {train.seed}; teacher {teacher.source} "
        f"(sha256 {teacher.sha256[:12]}); data {data.root}.",
        f"mIoU: box prompts on {data.coco_annotations.name}"
        + (f" (first {params.evaluate.max_images} images)" if params.evaluate.max_images else "")
        + (" against COCO's masks." if reference == "gt" else " against the teacher's masks."),
        f"Params/MACs: thop convention at {params.evaluate.profile_img_size}×"
        f"{params.evaluate.profile_img_size}; latency: median of {params.evaluate.latency_runs} "
        "batch-1 encoder runs.",
    ]
    if teacher.random:
        notes.append(RANDOM_TEACHER_NOTE)
    return notes


def _teacher_row(evaluated: StepFuture[EvalOutputs] | None, reference: str) -> AblationRow:
    row = AblationRow(model="ViT-T (teacher)", arch="vit_t", role="T")
    if evaluated is None:
        row.status = "reference masks" if reference == "teacher" else "not scored"
        return row
    reason = failure_of(evaluated)
    if reason is not None:
        row.status = failure_status("evaluate", reason)
        return row
    _set_miou(row, evaluated.result().metrics)
    return row


def run_ablation(
    params: DistillAblationParams,
    *,
    flow_name: str,
    table_stem: str,
    table_folder: str = "",
    companions: Arms | None = None,
) -> AblationSummary:
    if params.dispatch == "deployments" and not in_flow_run():
        raise ConfigError(
            "dispatch: deployments starts flow runs of the distill deployment, "
            "which needs a Prefect server: set PREFECT_API_URL"
        )
    logger = run_logger()
    setup = setup_flow(params)
    train = params.train
    data = call(prepare_data, params.data, setup.runs_dir)
    teacher = call(prepare_teacher, params.teacher, setup.runs_dir, train)
    arms = distill_configs(params.arms, train, data, teacher, setup.runs_dir)
    reference = resolve_reference(params.evaluate, teacher)
    logged = {
        **params.model_dump(mode="json"),
        "arm_names": ",".join(params.arms),
        "eval_reference": reference,
        "teacher_random": teacher.random,
        "teacher_sha256": teacher.sha256,
    }
    with fan_out(setup, flow_name, params.experiment, data, logged, list(params.arms)) as runs:
        for arm in arms:
            log_params(runs.children[arm.run_name], arm_params(arm, teacher))
        teacher_eval = None
        if params.evaluate.evaluate_teacher and reference == "gt":
            teacher_eval = submit(
                evaluate_teacher, teacher, data, params.evaluate, train.teacher_size,
                setup.runs_dir, setup.code, run=runs.parent, device=train.device,
            )  # fmt: skip
        joining = distill_configs(companions or {}, train, data, teacher, setup.runs_dir)
        groups = group_arms(arms, train.device, together=params.train_together, companions=joining)
        logger.info("training groups: %s", "; ".join(g.description for g in groups))
        for group in (g for g in groups if g.companions):
            names = ", ".join(c.run_name for c in group.companions)
            logger.info("%s shares its teacher pass with %s (their own runs)", group.label, names)
        dispatched: dict[str, str] = {}  # label → why its flow run failed
        if params.dispatch == "deployments":
            dispatched = run_groups({g.label: [a.run_name for a in g.arms] for g in groups}, params)
        submitted = [
            futures
            for group in groups
            if group.label not in dispatched
            for futures in submit_group(group, runs.children, params, data, teacher, setup)
        ]
        progress = None
        if in_flow_run():  # sync_compatible: a UUID in this synchronous flow, not a coroutine
            progress = cast(
                UUID, create_progress_artifact(0.0, description=f"{flow_name}: arms finished")
            )
        failed = [
            _arm_row(arm, g, runs.children[arm.run_name], failure_status("distill", why))
            for g in groups
            if (why := dispatched.get(g.label)) is not None
            for arm in g.arms
        ]
        arm_rows: list[AblationRow] = []
        # arm_row waits for the arm's tasks
        for row in itertools.chain(failed, (arm_row(futures) for futures in submitted)):
            arm_rows.append(row)
            runs.finish(row.model, row.status, ok=row.ok)
            if row.ok and params.export.enabled and params.export.register_model:
                describe_version(runs.children[row.model], params.export.register_model, row)
            if progress is not None:
                update_progress_artifact(progress, 100.0 * len(arm_rows) / len(arms))
            logger.info("arm %s: %s", row.model, row.status)
        order = list(params.arms)
        rows = [
            _teacher_row(teacher_eval, reference),
            *sorted(arm_rows, key=lambda r: order.index(r.model)),
        ]
        runtimes = list(params.evaluate.latency_runtimes)
        rule = params.pick or PickRule()
        pareto_runtime = rule.runtime if rule.runtime in runtimes else runtimes[0]
        tables = call(
            write_ablation_table, rows, runtimes, pareto_runtime, setup.tables_dir / table_folder,
            _notes(params, teacher, data, reference), run=runs.parent, stem=table_stem,
        )  # fmt: skip
        push(setup.runs_dir, setup.tables_dir / table_folder)
        champion = None
        finished = [r for r in rows if r.role == "S" and r.ok]
        log_metrics(
            runs.parent, {"arms_ok": len(finished), "arms_failed": len(arms) - len(finished)}
        )
        if params.pick is not None and finished:
            picked = submit(
                pick_encoder, setup.tracking_uri, params.experiment, params.pick,
                params.export.register_model or "", setup.tables_dir,
                parent_run_id=runs.parent.run_id, log_to=runs.parent,
            )  # fmt: skip
            reason = failure_of(picked)
            if reason is None:
                champion = picked.result()
            else:
                logger.warning("no champion picked: %s", reason)
        if not finished:
            raise RuntimeError(
                f"every arm of {flow_name} failed; see {tables.markdown} for the reasons"
            )
    return AblationSummary(
        experiment=params.experiment,
        tracking_uri=setup.tracking_uri,
        parent_run_id=runs.parent.run_id,
        rows=rows,
        tables=tables,
        champion=champion,
        groups=[
            f.trained.result()
            for f in {id(f.trained): f for f in submitted}.values()
            if failure_of(f.trained) is None
        ],
    )


@flow(name="distill-ablation")
def distill_ablation(
    params: DistillAblationParams = DistillAblationParams(), preset: Preset | None = None
) -> AblationSummary:
    """Table 2: distil, export and evaluate every arm; the table, the Pareto plot, the pick.
    ``preset`` is a parameter of its own so that ``--param params=...`` does not replace it."""
    params = apply_preset(params, preset)
    return run_ablation(params, flow_name="distill-ablation", table_stem=TABLE2_STEM)


@flow(name="distill")
def distill(params: DistillParams = DistillParams()) -> AblationSummary:
    """One arm (or a group trained together): distil, export, evaluate (``arms/distill_<arm>``)."""
    names = params.arm_names
    shared = ("experiment", "train", "export", "data", "teacher", "tracking", "torch_threads")
    ablation = DistillAblationParams(
        **{field: getattr(params, field) for field in shared},
        arms={name: params.arms[name] for name in names},
        evaluate=params.evaluate.model_copy(update={"evaluate_teacher": False}),
        pick=None,
    )
    return run_ablation(
        ablation,
        flow_name="distill",
        table_stem=f"distill_{'+'.join(names)}",
        table_folder="arms",
        companions={n: a for n, a in params.arms.items() if n not in names}
        if params.share_teacher_pass
        else None,
    )
