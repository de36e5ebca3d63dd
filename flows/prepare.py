"""``data`` and ``teacher``: the first two stages of the study on their own (DVC runs them as
stages; the other flows run the same steps themselves, so they never need these first)."""

from __future__ import annotations

from prefect import flow

from flows.common import setup_flow
from flows.params import DataParams, TeacherParams
from tasks.data import prepare_data
from tasks.results import DataInfo, TeacherInfo
from tasks.specs import DataSpec, TeacherSource, TrackingSpec
from tasks.teacher import prepare_teacher


@flow(name="data")
def data(
    data: DataSpec = DataSpec(),
    tracking: TrackingSpec = TrackingSpec(),
    torch_threads: int | None = None,
) -> DataInfo:
    """Generate (demo) or check the data folder; report its content hashes."""
    params = DataParams(data=data, tracking=tracking, torch_threads=torch_threads)
    setup = setup_flow(params)
    return prepare_data(params.data, setup.runs_dir)


@flow(name="teacher")
def teacher(
    teacher: TeacherSource = TeacherSource(),
    img_size: int = 1024,
    device: str = "auto",
    batch_size: int = 8,
    tracking: TrackingSpec = TrackingSpec(),
    torch_threads: int | None = None,
) -> TeacherInfo:
    """Resolve the teacher checkpoint (random weights when none, said loudly) and build its
    distillation engine at ``img_size``."""
    params = TeacherParams(
        teacher=teacher, img_size=img_size, device=device, batch_size=batch_size,
        tracking=tracking, torch_threads=torch_threads,
    )  # fmt: skip
    setup = setup_flow(params)
    return prepare_teacher(
        params.teacher, setup.runs_dir, params.img_size, params.device, params.batch_size
    )
