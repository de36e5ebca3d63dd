"""The model registry: one registered version = one deployable package (README: "Deploying the
champion"); its sha256 is a version tag, so the same bytes give the existing version."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gms_models.errors import GmsError
from tasks.results import RunRef
from tasks.tracking import mlflow_client, tracking_uri_set_to

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from gms_models.tables import AblationRow


SHA_TAG = "gms.sha256"
#: On the arm's run: its package's version (maybe an earlier run's).
VERSION_TAG = "gms.model_version"
MODEL_NAME = "sam-package"
PACKAGE_ARTIFACT = "package"  # the key tasks/sam_pyfunc.py reads
PYFUNC_FILE = Path(__file__).with_name("sam_pyfunc.py")
REQUIREMENTS = ("mlflow", "onnxruntime", "numpy", "pillow")
#: What identifies a package: the graphs and the manifest (each graph's metadata JSON holds its
#: export's random parity seed, so it is shipped but not hashed).
HASHED_SUFFIXES = (".onnx", "bundle.json")

FILES_LOST = (
    "the artifact store holds no files for it (was the store wiped, e.g. by `gms stack down`?); "
    "re-run the flow that registered it"
)


class RegistryError(GmsError):
    """A registered version whose files are missing, or a model URI that names nothing."""


def package_sha256(folder: Path) -> str:
    """sha256 over the names and bytes of the package's graphs and manifest, in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.name.endswith(HASHED_SUFFIXES)):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _runtime_code(into: Path) -> Path:
    """A copy of the ``gms_models`` modules the pyfunc imports, found by :mod:`modulefinder` so
    that the list follows the code."""
    import modulefinder

    import gms_models

    root = Path(gms_models.__file__).parent
    script = root / "runtime" / "sam_onnx.py"
    finder = modulefinder.ModuleFinder(path=[str(root.parent)])
    finder.run_script(str(script))
    found = finder.modules.items()  # modulefinder.Module keeps the path in __file__ (untyped)
    files = {Path(vars(m)["__file__"]) for n, m in found if n.startswith("gms_models")}
    for path in files | {script}:
        dest = into / path.relative_to(root.parent)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    return into / "gms_models"


def _input_example() -> list[dict[str, Any]]:
    """A small real request: a grey 32×48 PNG with a box prompt and a point prompt."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(buffer, format="PNG")
    return [
        {
            "image": base64.b64encode(buffer.getvalue()).decode(),
            "prompts": [{"box": [4.0, 4.0, 30.0, 20.0]}, {"points": [[24.0, 16.0]], "labels": [1]}],
        }
    ]


def _log_package(ref: RunRef, folder: Path, tags: Mapping[str, str]) -> str:
    """Log ``folder`` as a pyfunc LoggedModel of run ``ref``; returns its ``models:/`` URI. The
    fluent API logs to the process-wide URI, which the caller sets to ``ref``'s."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="gms-code-") as code:
        logged = mlflow.initialize_logged_model(
            name=MODEL_NAME,
            source_run_id=ref.run_id,
            experiment_id=ref.experiment_id,
            tags=dict(tags),
        )
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(PYFUNC_FILE),
            artifacts={PACKAGE_ARTIFACT: str(folder)},
            code_paths=[str(_runtime_code(Path(code)))],
            input_example=_input_example(),
            pip_requirements=[f"{p}=={importlib.metadata.version(p)}" for p in REQUIREMENTS],
            model_id=logged.model_id,
        )
    return str(info.model_uri)


def register_package(
    ref: RunRef, folder: Path, model_name: str, tags: Mapping[str, str], description: str
) -> str:
    """The version of ``model_name`` with ``folder``'s sha256, else a new one logged from run
    ``ref``; the arm's run gets the version tag."""
    from mlflow.exceptions import MlflowException

    client = mlflow_client(ref.tracking_uri)
    sha = package_sha256(folder)
    versions = client.search_model_versions(f"name='{model_name}'")
    same = [int(v.version) for v in versions if v.tags.get(SHA_TAG) == sha]
    if same:
        version = str(min(same))
    else:
        with contextlib.suppress(MlflowException):  # registered already (maybe by another arm)
            client.create_registered_model(model_name)
        # the fluent logging and a local SQL store resolving models:/ read the process-wide URI
        with tracking_uri_set_to(ref.tracking_uri):
            uri = _log_package(ref, folder, tags)
            created = client.create_model_version(
                model_name,
                source=uri,
                run_id=ref.run_id,
                tags={**tags, SHA_TAG: sha},
                description=description,
                model_id=uri.removeprefix("models:/"),
            )
        version = str(created.version)
    client.set_tag(ref.run_id, VERSION_TAG, version)
    return version


def row_tags(row: AblationRow) -> dict[str, str]:
    return {k: f"{v:.4g}" for k, v in row.numbers().items() if k != "last_loss"}


def describe_version(ref: RunRef, model_name: str, row: AblationRow) -> None:
    """Write the arm's Table 2 row into its version's tags and description."""
    client = mlflow_client(ref.tracking_uri)
    version = client.get_run(ref.run_id).data.tags.get(VERSION_TAG)
    if version is None:
        return
    tags = row_tags(row)
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    cells = ", ".join(f"{k} {v}" for k, v in tags.items())
    client.update_model_version(
        model_name,
        version,
        description=f"Arm `{row.model}` ({row.arch}, lr {row.lr}, {row.epochs} epochs) of the "
        f"distillation ablation, run {ref.run_id}. Table 2 row: {cells}.",
    )


def mark_champion(
    client: MlflowClient,
    model_name: str,
    version: str,
    alias: str,
    arm_run_id: str,
    rule: str,
    reason: str,
) -> None:
    """Point ``alias`` at ``version``; the pick rule and reason go into the version's tags and
    description and the arm run's tags."""
    client.set_registered_model_alias(model_name, alias, version)
    described = client.get_model_version(model_name, version).description or ""
    pick_text = f"Picked as `{alias}`. Rule: {rule}. Reason: {reason}"
    if pick_text not in described:
        text = described.split("\n\nPicked as")[0]
        client.update_model_version(model_name, version, description=f"{text}\n\n{pick_text}")
    client.set_model_version_tag(model_name, version, "gms.pick_rule", rule)
    client.set_model_version_tag(model_name, version, "gms.pick_reason", reason)
    client.set_tag(arm_run_id, "gms.champion", alias)


def resolve_version(client: MlflowClient, model_uri: str) -> ModelVersion:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` -> the model version."""
    from mlflow.exceptions import MlflowException

    path = model_uri.removeprefix("models:/")
    if path == model_uri or not path:
        raise RegistryError(
            f"{model_uri!r} is not a models:/NAME@ALIAS or models:/NAME/VERSION URI"
        )
    try:
        if "@" in path:
            name, alias = path.split("@", 1)
            return client.get_model_version_by_alias(name, alias)
        name, _, version = path.partition("/")
        return client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(f"{model_uri} names no model version: {exc.message}") from exc


def name_version(model_uri: str, name: str, version: str, source: str | None) -> str:
    """``URI (version V of NAME, files at SOURCE)``: how errors name a registered version."""
    return f"{model_uri} (version {version} of {name}, files at {source})"


def download_package(model_uri: str, tracking_uri: str, dest: Path) -> Path:
    """Download ``model_uri``'s package into ``dest``; returns its SAM-profile folder. Files the
    store lost (MLflow then downloads an empty folder) are a :class:`RegistryError`."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from tasks.models_repository import MissingModelFiles

    client = mlflow_client(tracking_uri)
    version = resolve_version(client, model_uri)
    what = name_version(model_uri, version.name, version.version, version.source)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tracking_uri_set_to(tracking_uri):  # a models:/ source resolves through it
            local = Path(mlflow.artifacts.download_artifacts(version.source, dst_path=str(dest)))
    except MissingModelFiles as exc:
        raise RegistryError(f"{what}: {exc.reason}") from exc
    except MlflowException as exc:
        raise RegistryError(f"{what}: downloading it failed: {exc.message}") from exc
    if not any(local.iterdir()):
        raise RegistryError(f"{what}: {FILES_LOST}")
    if not (local / "MLmodel").is_file():
        raise RegistryError(f"{what}: the download at {local} is no MLflow model (no MLmodel)")
    artifacts = Model.load(str(local)).flavors.get("python_function", {}).get("artifacts", {})
    package = local / str(artifacts.get(PACKAGE_ARTIFACT, {}).get("path", PACKAGE_ARTIFACT))
    if not (package / "bundle.json").is_file():
        raise RegistryError(f"{what}: the download at {local} holds no SAM package")
    return package


def lost_versions(tracking_uri: str) -> list[str]:
    """``NAME/VERSION -> SOURCE`` of every registered version whose files are missing."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from tasks.models_repository import MissingModelFiles

    client = mlflow_client(tracking_uri)
    lost = []
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name='{model.name}'"):
            where = f"{model.name}/{version.version} -> {version.source}"
            try:
                with tracking_uri_set_to(tracking_uri):  # a models:/ source resolves through it
                    if not mlflow.artifacts.list_artifacts(version.source):
                        lost.append(where)
            except MlflowException as exc:
                reason = exc.reason if isinstance(exc, MissingModelFiles) else exc.message
                lost.append(f"{where} (listing its files failed: {reason})")
    return lost
