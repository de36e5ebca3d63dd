"""Prefect's ``retry_condition_fn`` for tasks with ``retries``: only transient failures retry.

A 404 or a checksum mismatch fails the same way every time, so such a task run fails at once with
one message; a timeout or an HTTP 503 is worth another try (see
:func:`gms_models.errors.is_transient`, the one rule for both the library and the tasks).
"""

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
