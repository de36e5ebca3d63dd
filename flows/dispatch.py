"""``dispatch: deployments``: each arm group of an ablation as a flow run of the ``distill``
deployment, re-run (``arm_retries``) when it failed or crashed."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast
from uuid import UUID

from prefect import get_run_logger

from flows.params import DistillAblationParams, DistillParams

POLL_SECONDS = 5.0
#: What a group's flow run takes over from the ablation's parameters.
GROUP_FIELDS = {"train", "export", "evaluate", "data", "teacher", "tracking", "torch_threads"}


def group_params(names: Sequence[str], params: DistillAblationParams) -> DistillParams:
    return DistillParams.model_validate(
        {
            **dict(params.model_dump(include=GROUP_FIELDS)),
            "experiment": f"{params.experiment}-groups",
            "arm": list(names),
            "arms": {name: params.arms[name] for name in names},
        }
    )


def _start(deployment: str, label: str, attempt: int, params: DistillParams) -> UUID:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    started = run_deployment(
        deployment,
        parameters={"params": params.model_dump(mode="json")},
        flow_run_name=f"{label}-try{attempt}",
        timeout=0,  # returns once created; the runs are awaited together below
        tags=["arm-group"],
    )
    return cast(FlowRun, started).id  # sync_compatible: a FlowRun here, not a coroutine


def _wait(runs: Mapping[str, UUID]) -> dict[str, Any]:
    from prefect import get_client

    states: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        while len(states) < len(runs):
            for label, run_id in runs.items():
                if label not in states:
                    state = client.read_flow_run(run_id).state
                    if state is not None and state.is_final():
                        states[label] = state
            if len(states) < len(runs):
                time.sleep(POLL_SECONDS)
    return states


def run_groups(
    groups: Mapping[str, Sequence[str]], params: DistillAblationParams
) -> dict[str, str]:
    """Run every group (label → arm names) as a flow run of ``params.arm_deployment`` and wait;
    returns why each group that did not complete in ``arm_retries`` failed, by label."""
    logger = get_run_logger()
    pending = dict(groups)
    failures: dict[str, str] = {}
    for attempt in range(params.arm_retries + 1):
        runs = {
            label: _start(params.arm_deployment, label, attempt, group_params(names, params))
            for label, names in pending.items()
        }
        logger.info(
            "started %s on %s (try %d)", ", ".join(runs), params.arm_deployment, attempt + 1
        )
        states = _wait(runs)
        failures = {
            label: f"flow run {runs[label]} of {params.arm_deployment} ended "
            f"{state.type.value}: {state.message or ''}".strip()
            for label, state in states.items()
            if not state.is_completed()
        }
        for label, reason in failures.items():
            logger.warning("group %s: %s", label, reason)
        pending = {label: pending[label] for label in failures}
        if not pending:
            break
    return failures
