"""``encoder-selection`` (Table 1); the flow fails only when every family failed."""

from __future__ import annotations

from prefect import flow

from flows.common import FlowSummary, fan_out, setup_flow
from flows.params import EncoderSelectionParams
from tasks.classify import classify_family, write_selection_table
from tasks.data import prepare_data
from tasks.execution import call, failure_of, run_logger, submit


class SelectionSummary(FlowSummary):
    families: list[str]
    failed: dict[str, str]

    @property
    def failures(self) -> dict[str, str]:
        return self.failed


@flow(name="encoder-selection")
def encoder_selection(
    params: EncoderSelectionParams = EncoderSelectionParams(),
) -> SelectionSummary:
    """Table 1: the encoder families as MALSD classifiers."""
    logger = run_logger()
    setup = setup_flow(params)
    data = call(prepare_data, params.data, setup.runs_dir)
    config = params.classify
    logged = params.model_dump(mode="json")
    flow = "encoder-selection"
    with fan_out(setup, flow, params.experiment, data, logged, config.families) as runs:
        args = (config, data, setup.runs_dir, setup.code)
        futures = {
            slug: submit(classify_family, slug, *args, run=runs.children[slug])
            for slug in config.families
        }
        results, failed = [], {}
        for slug in config.families:
            reason = failure_of(futures[slug])
            if reason is None:
                results.append(futures[slug].result().result)
                runs.finish(slug, "ok", ok=True)
            else:
                failed[slug] = reason
                runs.finish(slug, f"failed: {reason[:200]}", ok=False)
                logger.error("%s failed: %s", slug, reason)
        if not results:
            raise RuntimeError(f"every family failed: {failed}")
        with_paper = config.compare_with_paper
        tables = call(write_selection_table, results, setup.tables_dir, with_paper, run=runs.parent)
    return SelectionSummary(
        experiment=params.experiment,
        tracking_uri=setup.tracking_uri,
        parent_run_id=runs.parent.run_id,
        families=[str(r["slug"]) for r in results],
        failed=failed,
        tables=tables,
    )
