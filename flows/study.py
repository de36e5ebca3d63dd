"""``study``: the whole study in one flow run — data → teacher → ``distill-ablation`` (Table 2)
→ ``segment-eval`` (Table 3) → ``encoder-selection`` (Table 1) → ``pick`` — each part a subflow
run with its own MLflow parent run. ``gms study`` runs it at toy scale on the demo data."""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel

from flows.distill_ablation import AblationSummary
from flows.distill_ablation import distill_ablation as distill_ablation_flow
from flows.encoder_selection import SelectionSummary
from flows.encoder_selection import encoder_selection as encoder_selection_flow
from flows.params import (
    DistillAblationParams,
    EncoderSelectionParams,
    PickParams,
    SegmentEvalParams,
    StudyParams,
)
from flows.pick import pick as pick_flow
from flows.prepare import data as data_flow
from flows.prepare import teacher as teacher_flow
from flows.segment_eval import SegmentEvalSummary
from flows.segment_eval import segment_eval as segment_eval_flow
from tasks.results import DataInfo, TeacherInfo
from tasks.selection import PickOutputs
from tasks.specs import DataSpec, TeacherSource, TrackingSpec


class StudySummary(BaseModel):
    tracking_uri: str
    data: DataInfo
    teacher: TeacherInfo
    ablation: AblationSummary
    segment_eval: SegmentEvalSummary
    encoder_selection: SelectionSummary | None
    champion: PickOutputs


@flow(name="study")
def study(
    data: DataSpec = DataSpec(),
    teacher: TeacherSource = TeacherSource(),
    distill_ablation: DistillAblationParams = DistillAblationParams(pick=None),
    segment_eval: SegmentEvalParams = SegmentEvalParams(),
    encoder_selection: EncoderSelectionParams | None = EncoderSelectionParams(),
    pick: PickParams = PickParams(),
    tracking: TrackingSpec = TrackingSpec(),
    torch_threads: int | None = None,
) -> StudySummary:
    """The study end to end (see :mod:`flows.study`)."""
    params = StudyParams(
        data=data, teacher=teacher, distill_ablation=distill_ablation, segment_eval=segment_eval,
        encoder_selection=encoder_selection, pick=pick, tracking=tracking,
        torch_threads=torch_threads,
    )  # fmt: skip
    logger = get_run_logger()
    ablation_params: DistillAblationParams = params.part("distill_ablation")
    train = ablation_params.train
    data_info = data_flow(params.data, params.tracking, params.torch_threads)
    teacher_info = teacher_flow(
        params.teacher,
        train.teacher_size or train.img_size,
        train.device,
        train.batch_size,
        params.tracking,
        params.torch_threads,
    )
    ablation = distill_ablation_flow(**ablation_params.flow_kwargs())
    segment = segment_eval_flow(
        **params.part("segment_eval")
        .model_copy(
            update={
                "ablation_run_id": ablation.parent_run_id,
                "ablation_experiment": ablation.experiment,
            }
        )
        .flow_kwargs()
    )
    selection = None
    if params.encoder_selection is not None:
        selection = encoder_selection_flow(**params.part("encoder_selection").flow_kwargs())
    champion = pick_flow(
        **params.part("pick")
        .model_copy(
            update={"ablation_run_id": ablation.parent_run_id, "experiment": ablation.experiment}
        )
        .flow_kwargs()
    )
    logger.info(
        "champion: %s (%s@%s, version %s)",
        champion.arm,
        champion.model_name,
        champion.alias,
        champion.version,
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
