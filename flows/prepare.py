"""``data`` and ``teacher``: the first two stages of the study on their own (DVC stages)."""

from __future__ import annotations

from prefect import flow

from flows.common import setup_flow
from flows.params import DataParams, TeacherParams
from tasks.data import prepare_data
from tasks.execution import call
from tasks.results import DataInfo, TeacherInfo
from tasks.teacher import prepare_teacher


@flow(name="data")
def data(params: DataParams = DataParams()) -> DataInfo:
    """Generate (demo) or check the data folder; report its content hashes."""
    setup = setup_flow(params)
    return call(prepare_data, params.data, setup.runs_dir)


@flow(name="teacher")
def teacher(params: TeacherParams = TeacherParams()) -> TeacherInfo:
    """Resolve the teacher checkpoint (random weights when none, said loudly), build its engine."""
    setup = setup_flow(params)
    return call(prepare_teacher, params.teacher, setup.runs_dir, params.train)
