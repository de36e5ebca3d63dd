"""How a flow's steps run: Prefect task runs inside a flow run, else plain calls of the same
functions (``gms run --no-temporary-server``, DVC's stages)."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any, TypeVar

from prefect import Flow, Task
from prefect.futures import PrefectFuture

R = TypeVar("R")

#: A Prefect future in a flow run, else a finished (after a failed upstream step: cancelled) one.
StepFuture = PrefectFuture[R] | Future[R]


def in_flow_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    from prefect import get_run_logger
    from prefect.logging import get_logger

    return get_run_logger() if in_flow_run() else get_logger("gms")


def call(step: Task[..., R] | Flow[..., R], *args: Any, **kwargs: Any) -> R:
    """``step``'s result, now: a task (or subflow) run inside a flow run, else its function's."""
    if in_flow_run():
        return step(*args, **kwargs)  # type: ignore[no-any-return]
    return step.fn(*args, **kwargs)


def _failed(value: Any) -> bool:
    return isinstance(value, Future) and (value.cancelled() or value.exception() is not None)


def _resolved(value: Any) -> Any:
    return value.result() if isinstance(value, Future) else value


def submit(step: Task[..., R], *args: Any, **kwargs: Any) -> StepFuture[R]:
    """``step.submit(...)`` inside a flow run; else its function run now into a finished future,
    cancelled (not run) when an argument is a failed step's future, as Prefect does."""
    if in_flow_run():
        submitted: PrefectFuture[R] = step.submit(*args, **kwargs)
        return submitted
    future: Future[R] = Future()
    if any(_failed(v) for v in [*args, *kwargs.values()]):
        future.cancel()
        return future
    try:
        result = step.fn(*map(_resolved, args), **{key: _resolved(v) for key, v in kwargs.items()})
    except Exception as error:  # the step's failure is its future's outcome, as in Prefect
        future.set_exception(error)
    else:
        future.set_result(result)
    return future


def failure_of(future: StepFuture[Any] | None) -> str | None:
    """The error of a failed step (waiting for it); None when it completed or never ran because an
    upstream step failed (whose failure is the one to report)."""
    if future is None:
        return None
    if isinstance(future, Future):
        error = None if future.cancelled() else future.exception()
        return None if error is None else str(error)
    future.wait()
    state = future.state
    if not state.is_failed() and not state.is_crashed():
        return None
    outcome = future.result(raise_on_failure=False)
    return str(outcome) if isinstance(outcome, BaseException) else str(state.message)
