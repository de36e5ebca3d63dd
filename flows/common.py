"""What every flow does first, and its MLflow parent run with one child run per part."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.runtime import flow_run
from pydantic import BaseModel

from flows.params import FlowParams
from tasks.caching import CodeVersion, code_version
from tasks.devices import torch_threads
from tasks.results import DataInfo, RunRef, TableFiles
from tasks.tracking import (
    end_orphaned_runs,
    ensure_experiment,
    finish_run,
    log_params,
    parent_run,
    provenance_tags,
    resolve_tracking_uri,
    set_tags,
    start_run,
)

RANDOM_TEACHER_NOTE = (
    "**The teacher has random weights**: these numbers only show that the pipeline runs."
)


class FlowSummary(BaseModel):
    """What a table's flow run returns: where its records and tables are."""

    experiment: str
    tracking_uri: str
    parent_run_id: str
    tables: TableFiles


@dataclass(frozen=True)
class FlowSetup:
    runs_dir: Path  # absolute
    code: CodeVersion
    tracking_uri: str

    @property
    def tables_dir(self) -> Path:
        return self.runs_dir / "tables"


def setup_flow(params: FlowParams) -> FlowSetup:
    torch_threads(params.torch_threads)
    runs_dir = Path(params.tracking.runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    return FlowSetup(
        runs_dir=runs_dir, code=code_version(), tracking_uri=resolve_tracking_uri(params.tracking)
    )


@dataclass(frozen=True)
class FanOut:
    """A flow run's MLflow parent run and one child run per part (arm, family)."""

    experiment_id: str
    parent: RunRef
    children: dict[str, RunRef]

    def finish(self, name: str, status: str, ok: bool, **tags: str) -> None:
        set_tags(self.children[name], {"gms.status": status, **tags})
        finish_run(self.children[name], ok=ok)


@contextmanager
def fan_out(
    setup: FlowSetup,
    flow: str,
    experiment: str,
    data: DataInfo | None,
    params: Mapping[str, Any],
    children: Sequence[str],
) -> Iterator[FanOut]:
    """The parent run of ``flow`` (``params`` logged on it) and a child run per name of
    ``children``; runs a killed flow run left RUNNING in ``experiment`` are ended first."""
    uri = setup.tracking_uri
    experiment_id = ensure_experiment(uri, experiment, setup.runs_dir)
    end_orphaned_runs(uri, experiment_id)
    tags = provenance_tags(setup.code, data, flow)
    name = f"{flow} {flow_run.name}" if flow_run.name else flow  # just the flow outside Prefect
    with parent_run(uri, experiment_id, name, tags) as parent:
        log_params(parent, params)
        runs = {name: start_run(uri, experiment_id, name, tags, parent=parent) for name in children}
        yield FanOut(experiment_id, parent, runs)
