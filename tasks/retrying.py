"""Prefect's ``retry_condition_fn``: only transient failures retry."""

from __future__ import annotations

from typing import Any

from prefect import Task
from prefect.client.schemas.objects import State, TaskRun

from gms_models.errors import is_transient


def retry_if_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """True when the failure held by ``state`` may go away on a retry."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False
