"""Outside a Prefect flow run, steps run as plain calls of their functions, never contacting a
Prefect server; a failed step fails its future, and a step given that future does not run."""

from __future__ import annotations

import pytest
from prefect import flow, task

from tasks.execution import call, failure_of, in_flow_run, submit

ran: list[str] = []


@task
def double(x: int) -> int:
    ran.append("double")
    return 2 * x


@task
def fail(x: int) -> int:
    raise ValueError(f"bad value {x}")


@task
def add(x: int, y: int) -> int:
    ran.append("add")
    return x + y


@flow
def inner(x: int) -> int:
    return call(double, x) + 1


@pytest.fixture(autouse=True)
def without_server(no_prefect_server: None) -> None:
    ran.clear()


def test_outside_a_flow_run_call_runs_the_function_of_a_task_or_flow() -> None:
    assert not in_flow_run()
    assert call(double, 3) == 6
    assert call(inner, 3) == 7


def test_submitted_futures_resolve_as_arguments() -> None:
    doubled = submit(double, 4)
    total = submit(add, doubled, y=submit(double, 1))
    assert total.result() == 10
    assert failure_of(total) is None
    assert ran == ["double", "double", "add"]


def test_a_failed_step_reports_its_error_and_its_dependents_do_not_run() -> None:
    failed = submit(fail, 5)
    assert failure_of(failed) == "bad value 5"
    downstream = submit(add, failed, 1)
    assert failure_of(downstream) is None  # the upstream failure is the one to report
    assert downstream.cancelled() and "add" not in ran
    assert failure_of(None) is None
