"""Step: pick the encoder to deploy from an ablation's MLflow runs (README: "The pick rule")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from gms_models.errors import GmsError
from gms_models.files import atomic_write_text
from gms_models.tables import format_lr
from tasks.execution import in_flow_run, run_logger
from tasks.registry import VERSION_TAG, mark_champion
from tasks.results import RunRef
from tasks.specs import PickRule
from tasks.tracking import PARENT_TAG, child_runs, log_artifact, mlflow_client, set_tags

if TYPE_CHECKING:
    from mlflow import MlflowClient

DECISION_MD = "pick_decision.md"


class PickError(GmsError):
    """No encoder can be picked (no finished arm, no registered version, unknown run)."""


class Candidate(BaseModel):
    arm: str
    arch: str
    run_id: str
    miou: float
    latency_ms: float
    params_m: float | None = None
    lr: float | None = None
    epochs: int | None = None
    version: str


class Decision(BaseModel):
    chosen: Candidate
    reference_miou: float
    reference: str  # teacher or best (the one actually used)
    eligible: list[str]
    within_margin: bool  # False: none was within the margin, the most accurate was taken


def _speed_key(c: Candidate) -> tuple[float, float, float, str]:
    return (c.latency_ms, -c.miou, c.params_m if c.params_m is not None else float("inf"), c.arm)


def choose(candidates: Sequence[Candidate], rule: PickRule, teacher_miou: float | None) -> Decision:
    if not candidates:
        raise PickError(
            "no candidate arms: no finished arm has mIoU, latency and an encoder version"
        )
    if rule.reference == "teacher" and teacher_miou is not None:
        reference, reference_miou = "teacher", teacher_miou
    else:
        reference, reference_miou = "best", max(c.miou for c in candidates)
    eligible = sorted(
        (c for c in candidates if c.miou >= reference_miou - rule.margin), key=_speed_key
    )
    most_accurate = min(candidates, key=lambda c: (-c.miou, *_speed_key(c)))
    return Decision(
        chosen=eligible[0] if eligible else most_accurate,
        reference_miou=reference_miou,
        reference=reference,
        eligible=[c.arm for c in eligible],
        within_margin=bool(eligible),
    )


def render_decision(
    decision: Decision,
    candidates: Sequence[Candidate],
    rule: PickRule,
    model_name: str,
    parent_run_id: str,
) -> str:
    whose = "the teacher's" if decision.reference == "teacher" else "the best arm's"
    lines = [
        f"# Pick: `{decision.chosen.arm}` → `{model_name}@{rule.alias}` "
        f"(version {decision.chosen.version})",
        "",
        f"Ablation run: `{parent_run_id}`",
        "",
        f"**Rule**: among arms with mIoU ≥ reference − {rule.margin:g}, the fastest on "
        f"`{rule.runtime}` (ties: higher mIoU, fewer params, name). Reference: {whose} mIoU "
        f"{decision.reference_miou:.4f}.",
    ]
    if rule.reference == "teacher" and decision.reference == "best":  # no teacher mIoU to use
        lines += [
            "",
            "The rule asks for the teacher's mIoU, but the ablation did not score the teacher "
            "against the same masks as the arms (e.g. a random-weight teacher scored against its "
            "own masks), so the best arm's mIoU is the reference.",
        ]
    lines += [
        "",
        f"| Arm | Arch | Lr | Epochs | mIoU | Latency {rule.runtime} (ms) | Params | Version "
        "| Within margin |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in sorted(candidates, key=_speed_key):
        lines.append(
            f"| {c.arm} | {c.arch} | {format_lr(c.lr) if c.lr else '–'} | {c.epochs or '–'} | "
            f"{c.miou:.4f} | {c.latency_ms:.2f} | "
            f"{f'{c.params_m:.2f}M' if c.params_m is not None else '–'} | {c.version} | "
            f"{'yes' if c.arm in decision.eligible else 'no'} |"
        )
    return "\n".join([*lines, "", f"**Choice**: {decision_reason(decision, rule)}", ""])


def decision_reason(decision: Decision, rule: PickRule) -> str:
    chosen = decision.chosen
    if decision.within_margin:
        return (
            f"`{chosen.arm}` is the fastest of the {len(decision.eligible)} arm(s) within the "
            f"margin ({chosen.latency_ms:.2f} ms on {rule.runtime}, mIoU {chosen.miou:.4f})."
        )
    return (
        f"No arm is within {rule.margin:g} of the reference, so the most accurate arm "
        f"`{chosen.arm}` (mIoU {chosen.miou:.4f}) is taken."
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def read_candidates(
    client: MlflowClient, experiment_id: str, parent_run_id: str, rule: PickRule
) -> list[Candidate]:
    """The finished child runs of ``parent_run_id`` with mIoU, latency and a model version."""
    candidates = []
    for run in child_runs(client, experiment_id, parent_run_id):
        metrics, params = run.data.metrics, run.data.params
        latency = metrics.get(f"latency_ms_{rule.runtime}")
        version = run.data.tags.get(VERSION_TAG)  # set when its package was registered
        if run.info.status != "FINISHED" or "miou" not in metrics or None in (latency, version):
            continue
        epochs = _float(params.get("epochs"))
        candidates.append(
            Candidate(
                arm=params.get("arm", run.info.run_name),
                arch=params.get("arch", "?"),
                run_id=run.info.run_id,
                miou=metrics["miou"],
                latency_ms=latency,
                params_m=metrics.get("params_m"),
                lr=_float(params.get("lr")),
                epochs=int(epochs) if epochs is not None else None,
                version=version,
            )
        )
    return sorted(candidates, key=lambda c: (c.arm, c.run_id))


def find_ablation(client: MlflowClient, experiment: str, run_id: str | None) -> tuple[str, str]:
    """The id of ``experiment`` and its ablation run: ``run_id``, else the newest finished."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise PickError(
            f"ablation experiment {experiment!r} not found at {client.tracking_uri}; "
            "run the ablation first"
        )
    if run_id is not None:
        return found.experiment_id, run_id
    runs = client.search_runs(
        [found.experiment_id],
        filter_string="tags.`gms.flow` = 'distill-ablation' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    if not parents:
        raise PickError(f"no finished distill-ablation run in experiment {found.experiment_id}")
    return found.experiment_id, parents[0].info.run_id


class PickOutputs(BaseModel):
    arm: str
    arch: str
    run_id: str
    version: str
    alias: str
    model_name: str
    parent_run_id: str
    decision_md: Path


@task(name="pick-encoder", cache_policy=NO_CACHE)
def pick_encoder(
    tracking_uri: str,
    experiment: str,
    rule: PickRule,
    model_name: str,
    out_dir: Path,
    parent_run_id: str | None = None,
    log_to: RunRef | None = None,
) -> PickOutputs:
    """Choose among the arms of ``parent_run_id`` (default: the newest finished ablation run in
    ``experiment``), point ``model_name@alias`` at the choice, and record why."""
    client = mlflow_client(tracking_uri)
    experiment_id, parent = find_ablation(client, experiment, parent_run_id)
    candidates = read_candidates(client, experiment_id, parent, rule)
    teacher_miou = client.get_run(parent).data.metrics.get("teacher_miou")
    decision = choose(candidates, rule, teacher_miou)
    chosen = decision.chosen
    markdown = render_decision(decision, candidates, rule, model_name, parent)
    mark_champion(
        client,
        model_name,
        chosen.version,
        rule.alias,
        chosen.run_id,
        rule=f"among arms with mIoU >= {decision.reference} mIoU "
        f"({decision.reference_miou:.4f}) - {rule.margin:g}, the fastest on {rule.runtime}",
        reason=decision_reason(decision, rule),
    )
    path = atomic_write_text(Path(out_dir) / DECISION_MD, markdown)
    if log_to is not None:
        log_artifact(log_to, path, "pick")
        set_tags(log_to, {"gms.champion": chosen.arm, "gms.champion_version": chosen.version})
    if in_flow_run():
        create_markdown_artifact(
            markdown=markdown, key="pick-decision", description="pick: why this encoder"
        )
    run_logger().info(
        f"picked {chosen.arm} ({chosen.run_id}) as {model_name}@{rule.alias} "
        f"version {chosen.version}"
    )
    return PickOutputs(
        **chosen.model_dump(include={"arm", "arch", "run_id", "version"}),
        alias=rule.alias,
        model_name=model_name,
        parent_run_id=parent,
        decision_md=path,
    )
