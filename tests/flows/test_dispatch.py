"""``dispatch: deployments``: each arm group becomes a ``distill`` flow run with the ablation's
settings; groups whose run crashed are started again, up to ``arm_retries`` times."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from prefect.states import Completed, Crashed

from flows import dispatch
from flows.params import DistillAblationParams


def ablation(**values: Any) -> DistillAblationParams:
    return DistillAblationParams.model_validate(
        {
            "arms": {"a": {"arch": "gmf_2282"}, "b": {"arch": "resnet18", "lr": 1e-3}, "c": {}},
            "train": {"img_size": 64, "epochs": 1},
            "pick": None,
            **values,
        }
    )


def test_group_params_carry_the_groups_arms_and_the_ablations_settings() -> None:
    params = ablation()
    group = dispatch.group_params(["a", "b"], params)
    assert group.arm_names == ["a", "b"]
    assert group.arms == {"a": params.arms["a"], "b": params.arms["b"]}
    assert (group.train, group.evaluate, group.data) == (params.train, params.evaluate, params.data)


@pytest.mark.parametrize(("retries", "failed"), [(1, set()), (0, {"g2"})])
def test_crashed_groups_are_started_again(
    retries: int, failed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[str, int, list[str]]] = []
    outcomes = {("g1", 0): Completed(), ("g2", 0): Crashed(message="worker died"),
                ("g2", 1): Completed()}  # fmt: skip
    runs: dict[uuid.UUID, tuple[str, int]] = {}

    def start(deployment: str, label: str, attempt: int, params: Any) -> uuid.UUID:
        assert deployment == "distill/default"
        started.append((label, attempt, params.arm_names))
        runs[run_id := uuid.uuid4()] = (label, attempt)
        return run_id

    monkeypatch.setattr(dispatch, "_start", start)
    monkeypatch.setattr(
        dispatch, "_wait", lambda ids: {label: outcomes[runs[i]] for label, i in ids.items()}
    )
    monkeypatch.setattr(dispatch, "get_run_logger", lambda: logging.getLogger("test"))
    failures = dispatch.run_groups({"g1": ["a", "b"], "g2": ["c"]}, ablation(arm_retries=retries))
    assert set(failures) == failed
    assert all("CRASHED: worker died" in reason for reason in failures.values())
    assert started[:2] == [("g1", 0, ["a", "b"]), ("g2", 0, ["c"])]
    assert started[2:] == ([("g2", 1, ["c"])] if retries else [])
