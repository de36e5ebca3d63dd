"""``study``: the whole study in one flow run, each part a subflow run."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from flows.distill_ablation import AblationSummary
from flows.distill_ablation import distill_ablation as distill_ablation_flow
from flows.encoder_selection import SelectionSummary
from flows.encoder_selection import encoder_selection as encoder_selection_flow
from flows.params import DataParams, DistillAblationParams, StudyParams, TeacherParams
from flows.pick import pick as pick_flow
from flows.prepare import data as data_flow
from flows.prepare import teacher as teacher_flow
from flows.segment_eval import SegmentEvalSummary
from flows.segment_eval import segment_eval as segment_eval_flow
from tasks.execution import call
from tasks.results import DataInfo, TeacherInfo
from tasks.selection import PickOutputs


class StudySummary(BaseModel):
    tracking_uri: str
    data: DataInfo
    teacher: TeacherInfo
    ablation: AblationSummary
    segment_eval: SegmentEvalSummary
    encoder_selection: SelectionSummary | None
    champion: PickOutputs

    @property
    def failures(self) -> dict[str, str]:
        """The failed parts of every table, as ``<flow>/<arm or family>``."""
        parts = {
            "distill-ablation": self.ablation,
            "segment-eval": self.segment_eval,
            "encoder-selection": self.encoder_selection,
        }
        return {
            f"{flow}/{name}": status
            for flow, summary in parts.items()
            if summary is not None
            for name, status in summary.failures.items()
        }


@flow(name="study")
def study(params: StudyParams = StudyParams()) -> StudySummary:
    """The study end to end (see :mod:`flows.study`)."""
    ablation_params: DistillAblationParams = params.part("distill_ablation")
    shared = {"tracking": params.tracking, "torch_threads": params.torch_threads}
    data_info = call(data_flow, DataParams(data=params.data, **shared))
    teacher_info = call(
        teacher_flow, TeacherParams(teacher=params.teacher, train=ablation_params.train, **shared)
    )
    ablation = call(distill_ablation_flow, ablation_params)
    from_ablation = {"ablation_run_id": ablation.parent_run_id}
    segment = call(
        segment_eval_flow,
        params.part("segment_eval").model_copy(
            update={**from_ablation, "ablation_experiment": ablation.experiment}
        ),
    )
    selection = None
    if params.encoder_selection is not None:
        selection = call(encoder_selection_flow, params.part("encoder_selection"))
    champion = call(
        pick_flow,
        params.part("pick").model_copy(update={**from_ablation, "experiment": ablation.experiment}),
    )
    return StudySummary(
        tracking_uri=ablation.tracking_uri,
        data=data_info,
        teacher=teacher_info,
        ablation=ablation,
        segment_eval=segment,
        encoder_selection=selection,
        champion=champion,
    )
