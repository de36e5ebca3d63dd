"""``encoder-selection`` (Table 1): every family of the shared recipe trained as an Act0/NG
classifier on MALSD, one child MLflow run per family, then the table in the paper's column
order and a bar chart of val accuracy. A family that fails keeps its child run (FAILED) and
is left out of the table; the flow fails only when every family failed."""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel

from flows.common import failure_of, parent_run_name, setup_flow
from flows.params import EncoderSelectionParams
from gms_models.classify import ClassifyConfig
from tasks.classify import classify_family, write_selection_table
from tasks.data import prepare_data
from tasks.results import TableFiles
from tasks.specs import DataSpec, TrackingSpec
from tasks.tracking import (
    ensure_experiment,
    finish_run,
    log_params,
    parent_run,
    provenance_tags,
    set_tags,
    start_run,
)


class SelectionSummary(BaseModel):
    experiment: str
    tracking_uri: str
    parent_run_id: str
    families: list[str]
    failed: dict[str, str]
    tables: TableFiles


def run_encoder_selection(params: EncoderSelectionParams) -> SelectionSummary:
    logger = get_run_logger()
    setup = setup_flow(params)
    uri = setup.tracking_uri
    data = prepare_data(params.data, setup.runs_dir)
    experiment_id = ensure_experiment(uri, params.experiment, setup.runs_dir)
    tags = provenance_tags(setup.code, data, "encoder-selection")
    config = params.classify
    with parent_run(uri, experiment_id, parent_run_name("encoder-selection"), tags) as parent:
        log_params(parent, params.model_dump(mode="json"))
        runs = {
            slug: start_run(uri, experiment_id, slug, tags, parent=parent)
            for slug in config.families
        }
        futures = {
            slug: classify_family.submit(
                slug, config, data, setup.runs_dir, setup.code, run=runs[slug]
            )
            for slug in config.families
        }
        results, failed = [], {}
        for slug in config.families:
            reason = failure_of(futures[slug])
            if reason is None:
                results.append(futures[slug].result().result)
            else:
                failed[slug] = reason
                set_tags(runs[slug], {"gms.status": f"failed: {reason[:200]}"})
                logger.error("%s failed: %s", slug, reason)
            finish_run(runs[slug], ok=reason is None)
        if not results:
            raise RuntimeError(f"every family failed: {failed}")
        tables = write_selection_table(
            results, setup.tables_dir, config.compare_with_paper, run=parent
        )
    return SelectionSummary(
        experiment=params.experiment,
        tracking_uri=uri,
        parent_run_id=parent.run_id,
        families=[str(r["slug"]) for r in results],
        failed=failed,
        tables=tables,
    )


@flow(name="encoder-selection")
def encoder_selection(
    experiment: str = "table1-encoder-selection",
    classify: ClassifyConfig = ClassifyConfig(),
    data: DataSpec = DataSpec(),
    tracking: TrackingSpec = TrackingSpec(),
    torch_threads: int | None = None,
) -> SelectionSummary:
    """Table 1: the encoder families as MALSD classifiers."""
    params = EncoderSelectionParams(
        experiment=experiment, classify=classify, data=data, tracking=tracking,
        torch_threads=torch_threads,
    )  # fmt: skip
    return run_encoder_selection(params)
