"""``pick``: point the registry alias at the encoder :mod:`tasks.selection` chooses."""

from __future__ import annotations

from prefect import flow

from flows.common import setup_flow
from flows.params import PickParams
from tasks.execution import call
from tasks.results import RunRef
from tasks.selection import PickOutputs, find_ablation, pick_encoder
from tasks.tracking import mlflow_client


@flow(name="pick")
def pick(params: PickParams = PickParams()) -> PickOutputs:
    """Pick the champion encoder of an ablation run by the stated rule."""
    setup = setup_flow(params)
    uri = setup.tracking_uri
    experiment_id, parent = find_ablation(
        mlflow_client(uri), params.experiment, params.ablation_run_id
    )
    ablation = RunRef(tracking_uri=uri, experiment_id=experiment_id, run_id=parent)
    return call(
        pick_encoder, uri, params.experiment, params.rule, params.model_name, setup.tables_dir,
        parent_run_id=parent, log_to=ablation,
    )  # fmt: skip
