"""MLflow helpers. Everything goes through an explicit :class:`RunRef` and ``MlflowClient``, never
MLflow's thread-local active run, so arms in parallel threads never log into each other's runs."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gms_models.owner import owner_gone, owner_token
from gms_models.train.callbacks import EpochEnd, StepEvent, TrainerCallback
from tasks.caching import CodeVersion
from tasks.results import DataInfo, RunRef
from tasks.specs import TrackingSpec

if TYPE_CHECKING:
    from mlflow import MlflowClient

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
PARENT_TAG = "mlflow.parentRunId"
OWNER_TAG = "gms.owner"
MAX_PARAM_CHARS = 6000
_BATCH = 100


def resolve_tracking_uri(tracking: TrackingSpec) -> str:
    """The param, else ``$MLFLOW_TRACKING_URI``, else the SQLite store under ``runs_dir``."""
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    return tracking.tracking_uri or from_env or local_store_uri(tracking.runs_dir)


def local_store_uri(runs_dir: Path) -> str:
    runs_dir = Path(runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{runs_dir / STORE_FILE}"


def mlflow_client(uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


@contextmanager
def tracking_uri_set_to(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI (and the ``MLFLOW_TRACKING_URI`` it exports) set to
    ``uri`` for the block, then put back: the fluent API reads only that, and a URI left behind
    would send later calls, and subprocesses, to a server that may have stopped."""
    import mlflow
    from mlflow.tracking import is_tracking_uri_set

    exported = os.environ.get("MLFLOW_TRACKING_URI")
    current = mlflow.get_tracking_uri()
    # None when unset or equal to the exported variable, which then rules alone, as before
    previous = current if is_tracking_uri_set() and current != exported else None  # type: ignore[no-untyped-call]
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None: unset, as before
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported


def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list[Any]:
    return list(
        client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
            max_results=1000,
        )
    )


def ensure_experiment(uri: str, name: str, runs_dir: Path) -> str:
    """The id of experiment ``name``, created (or restored) when needed; with a local store its
    artifacts go to ``<runs_dir>/mlartifacts/<name>``."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(uri)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            client.restore_experiment(existing.experiment_id)
        return existing.experiment_id
    location = None
    if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        location = (Path(runs_dir).resolve() / ARTIFACTS_DIR / name).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        found = client.get_experiment_by_name(name)  # created meanwhile by another process
        if found is None:
            raise
        return found.experiment_id


def end_orphaned_runs(uri: str, experiment_id: str) -> list[str]:
    """End as KILLED the RUNNING runs whose owner (``gms.owner``) is gone; return their ids."""
    from mlflow.entities import RunStatus

    client = mlflow_client(uri)
    running = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    ended = []
    for run in running:
        if owner_gone(run.data.tags.get(OWNER_TAG, "")):
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            ended.append(run.info.run_id)
    return ended


def provenance_tags(code: CodeVersion, data: DataInfo | None, flow: str) -> dict[str, str]:
    from prefect.runtime import deployment, flow_run

    tags = {
        "gms.flow": flow,
        # $GMS_RUN_SOURCE (dvc.yaml sets dvc), else how Prefect started the run
        "gms.source": os.environ.get("GMS_RUN_SOURCE")
        or ("prefect-deployment" if deployment.id else "local"),
        "gms.code_version": code.key,
        "git.dirty": str(code.dirty).lower(),
        OWNER_TAG: owner_token(),
    }
    if code.commit:
        tags["git.commit"] = code.commit
        tags["mlflow.source.git.commit"] = code.commit
    if data is not None:
        tags["data.hash"] = "-".join(f"{k}:{v}" for k, v in sorted(data.fingerprints.items()))
        tags["data.dvc_md5"] = data.dvc_md5 or "none (no data.dvc tracks this folder)"
    if flow_run.id:
        tags["prefect.flow_run_id"] = str(flow_run.id)
        tags["prefect.flow_run_name"] = str(flow_run.name)
        tags["prefect.flow_name"] = str(flow_run.flow_name)
        url = str(flow_run.ui_url or "")
        if url.startswith("http"):  # a temporary local server has no UI address
            tags["prefect.flow_run_url"] = url
        if deployment.id:
            tags["prefect.deployment"] = str(deployment.name)
    return tags


def start_run(
    uri: str, experiment_id: str, name: str, tags: Mapping[str, str], parent: RunRef | None = None
) -> RunRef:
    all_tags = {**tags, "mlflow.runName": name}
    if parent is not None:
        all_tags[PARENT_TAG] = parent.run_id
    run = mlflow_client(uri).create_run(experiment_id, run_name=name, tags=all_tags)
    return RunRef(tracking_uri=uri, experiment_id=experiment_id, run_id=run.info.run_id)


def finish_run(ref: RunRef, ok: bool = True) -> None:
    mlflow_client(ref.tracking_uri).set_terminated(ref.run_id, "FINISHED" if ok else "FAILED")


@contextmanager
def parent_run(
    uri: str, experiment_id: str, name: str, tags: Mapping[str, str]
) -> Iterator[RunRef]:
    """A run that ends FINISHED when the block completes and FAILED when it raises."""
    ref = start_run(uri, experiment_id, name, tags)
    try:
        yield ref
    except BaseException:
        finish_run(ref, ok=False)
        raise
    finish_run(ref, ok=True)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"train": {"lr": 3e-4}}`` → ``{"train.lr": "0.0003"}``; lists are written as JSON-ish
    text, None as ``"None"``."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            text = str(value)
            flat[name] = (
                text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 3] + "..."
            )
    return flat


def _log_batches(ref: RunRef, metrics: Sequence[Any] = (), params: Sequence[Any] = ()) -> None:
    if metrics or params:
        client = mlflow_client(ref.tracking_uri)
        for at in range(0, max(len(metrics), len(params)), _BATCH):
            client.log_batch(ref.run_id, metrics[at : at + _BATCH], params[at : at + _BATCH])


def log_params(ref: RunRef, params: Mapping[str, Any]) -> None:
    """Log ``params`` flattened; keys already logged are skipped."""
    from mlflow.entities import Param

    logged = mlflow_client(ref.tracking_uri).get_run(ref.run_id).data.params
    flat = {k: v for k, v in flatten(params).items() if k not in logged}
    _log_batches(ref, params=[Param(k, v) for k, v in sorted(flat.items())])


def _log_points(ref: RunRef, points: Iterable[tuple[str, float | None, int]]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    finite = [(k, float(v), s) for k, v, s in points if v is not None and math.isfinite(float(v))]
    _log_batches(ref, [Metric(key, v, now, step) for key, v, step in finite])


def log_metrics(ref: RunRef, metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log the finite values of ``metrics`` (at ``step``, default 0)."""
    _log_points(ref, ((k, v, step or 0) for k, v in sorted(metrics.items())))


def log_history(ref: RunRef, key: str, values: Sequence[float]) -> None:
    """Log ``values`` as one metric over steps 1, 2, ..."""
    _log_points(ref, ((key, v, step) for step, v in enumerate(values, start=1)))


def set_tags(ref: RunRef, tags: Mapping[str, str]) -> None:
    client = mlflow_client(ref.tracking_uri)
    for key, value in tags.items():
        client.set_tag(ref.run_id, key, value)


def log_artifact(ref: RunRef, path: Path, artifact_path: str | None = None) -> None:
    mlflow_client(ref.tracking_uri).log_artifact(ref.run_id, str(path), artifact_path)


class MlflowEpochLogger(TrainerCallback):
    """One student's epoch metrics and pictures, and ``step_loss`` at every report, into its run."""

    def __init__(self, ref: RunRef, student: str) -> None:
        self.ref = ref
        self.student = student

    def on_step(self, event: StepEvent) -> None:
        if event.losses and self.student in event.losses:
            log_metrics(self.ref, {"step_loss": event.losses[self.student]}, event.global_step)

    def on_epoch_end(self, event: EpochEnd) -> None:
        if event.student != self.student:
            return
        log_metrics(self.ref, event.metrics, step=event.epoch)
        picture = event.artifacts.get("features")
        if picture is not None and Path(picture).is_file():
            log_artifact(self.ref, Path(picture), "features")
