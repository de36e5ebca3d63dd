"""``segment-eval`` (Table 3). The students come from MLflow, so it may run on another host than
the ablation did."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import BaseModel

from flows.common import RANDOM_TEACHER_NOTE, FlowSummary, fan_out, setup_flow
from flows.params import SegmentEvalParams
from gms_models.errors import GmsError
from gms_models.tables import SegmentRow, failure_status
from tasks.data import prepare_data
from tasks.evaluate import evaluate_points
from tasks.execution import call, failure_of, run_logger, submit
from tasks.selection import find_ablation
from tasks.tables import write_segment_table
from tasks.teacher import prepare_teacher
from tasks.tracking import child_runs, mlflow_client

CHECKPOINT_ARTIFACT = "checkpoint/student.pt"
DOWNLOADS = "downloads"


class SegmentEvalSummary(FlowSummary):
    ablation_run_id: str
    rows: list[SegmentRow]

    @property
    def failures(self) -> dict[str, str]:
        return {row.model: row.status for row in self.rows if not row.ok}


class Student(BaseModel):
    arm: str
    arch: str
    run_id: str
    teacher_sha256: str | None


def ablation_students(
    uri: str, experiment: str, run_id: str | None, arms: list[str] | None
) -> tuple[str, list[Student]]:
    """The ablation run used and its finished arms (sorted by name), restricted to ``arms``."""
    client = mlflow_client(uri)
    experiment_id, parent = find_ablation(client, experiment, run_id)
    students = sorted(
        (
            Student(
                arm=run.data.params.get("arm", run.info.run_name),
                arch=run.data.params["arch"],
                run_id=run.info.run_id,
                teacher_sha256=run.data.params.get("teacher_sha256"),
            )
            for run in child_runs(client, experiment_id, parent)
            if run.info.status == "FINISHED" and "arch" in run.data.params
        ),
        key=lambda s: s.arm,
    )
    if arms is not None:
        unknown = sorted(set(arms) - {s.arm for s in students})
        if unknown:
            raise GmsError(f"arms {unknown} are not finished arms of ablation run {parent}")
        students = [s for s in students if s.arm in arms]
    if not students:
        raise GmsError(f"ablation run {parent} has no finished arm to evaluate")
    return parent, students


def download_checkpoint(uri: str, student: Student, runs_dir: Path) -> Path:
    """The arm's ``student.pt`` from MLflow (downloaded once per run id)."""
    dest = runs_dir / DOWNLOADS / student.run_id
    path = dest / Path(CHECKPOINT_ARTIFACT).name
    if not path.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        got = mlflow_client(uri).download_artifacts(student.run_id, CHECKPOINT_ARTIFACT, str(dest))
        Path(got).replace(path)  # out of the artifact's checkpoint/ folder
    return path


@flow(name="segment-eval")
def segment_eval(params: SegmentEvalParams = SegmentEvalParams()) -> SegmentEvalSummary:
    """Table 3: point-prompt mIoU on MALSD of an ablation's students against the teacher."""
    logger = run_logger()
    setup = setup_flow(params)
    uri = setup.tracking_uri
    ablation_run, students = ablation_students(
        uri, params.ablation_experiment, params.ablation_run_id, params.arms
    )
    data = call(prepare_data, params.data, setup.runs_dir)
    teacher = call(prepare_teacher, params.teacher, setup.runs_dir)
    notes = [
        f"Students of ablation run `{ablation_run}`; point prompts (palm centre) on "
        f"{data.malsd}; IoU against the teacher's masks ({teacher.source})."
    ]
    mismatched = [s.arm for s in students if s.teacher_sha256 not in (None, teacher.sha256)]
    if mismatched:
        notes.append(f"**Warning**: {', '.join(mismatched)} were distilled from another teacher.")
    if teacher.random:
        notes.append(RANDOM_TEACHER_NOTE)
    logged = {**params.model_dump(mode="json"), "ablation_run_id": ablation_run}
    arms = [s.arm for s in students]
    with fan_out(setup, "segment-eval", params.experiment, data, logged, arms) as runs:
        args = (teacher, data, params.grid_images, setup.runs_dir, setup.code)
        futures = {
            s.arm: submit(
                evaluate_points, s.arm, s.arch, download_checkpoint(uri, s, setup.runs_dir), *args,
                run=runs.children[s.arm], device=params.device,
            )
            for s in students
        }  # fmt: skip
        rows = []
        for student in students:
            future = futures[student.arm]
            reason = failure_of(future)
            row = SegmentRow(model=student.arm, encoder=student.arch, miou=None)
            if reason is None:
                result = future.result()
                row.miou, row.images = result.metrics["miou"], result.images
            else:
                row.status = failure_status("evaluate", reason)
            ablation_arm = {"gms.ablation_arm_run": student.run_id}
            runs.finish(student.arm, row.status, ok=reason is None, **ablation_arm)
            rows.append(row)
            logger.info("%s: %s", student.arm, row.status)
        tables = call(write_segment_table, rows, setup.tables_dir, notes, run=runs.parent)
        if all(r.miou is None for r in rows):
            raise RuntimeError(f"every arm failed; see {tables.markdown}")
    return SegmentEvalSummary(
        experiment=params.experiment,
        tracking_uri=uri,
        parent_run_id=runs.parent.run_id,
        ablation_run_id=ablation_run,
        rows=rows,
        tables=tables,
    )
