"""A registry whose artifacts are gone, on a real MLflow server: ``gms segment --model`` and the
package download fail with our error naming the version and its URIs (exit 2), and the check
behind ``gms stack up``'s warning lists the versions. Two ways to lose files: the artifact
folder deleted (MLflow downloads an empty folder without a word) and the logged model deleted
(MLflow raises). MLflow's own ``pyfunc.load_model`` and ``download_artifacts`` say the same
through the ``models`` repository the project registers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gms_cli.stack.launcher import free_ports, running_services
from gms_cli.stack.services import mlflow_server_spec
from tasks.registry import RegistryError, download_package, lost_versions
from tasks.tracking import tracking_uri_set_to

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

GMS = str(Path(sys.executable).parent / "gms")
NAME = "gms-encoder"


def register_files(tracking_uri: str, folder: Path) -> tuple[str, str]:
    """Register ``folder`` as a new version of ``gms-encoder`` the way packages are registered
    (a LoggedModel's files, source ``models:/<model_id>``); returns (version, source)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("registry-files")
    if experiment is None:
        experiment_id = client.create_experiment("registry-files")
        client.create_registered_model(NAME)
    else:
        experiment_id = experiment.experiment_id
    logged = client.create_logged_model(experiment_id, name="sam-package")
    client.log_model_artifacts(logged.model_id, str(folder))
    source = f"models:/{logged.model_id}"
    version = client.create_model_version(NAME, source=source, model_id=logged.model_id)
    return str(version.version), source


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An MLflow server with its artifacts in a local folder: (tracking URI, that folder)."""
    root = tmp_path_factory.mktemp("mlflow")
    (port,) = free_ports(1)
    with running_services([mlflow_server_spec(port, root)], root / "stack"):
        yield f"http://127.0.0.1:{port}", root / "artifacts"


def gms_segment(model_uri: str, tracking_uri: str, image: Path, out: Path) -> dict[str, str]:
    """``gms segment --model`` in its own process: exit status and one-line stderr."""
    command = [GMS, "segment", "--model", model_uri, "--image", str(image)]
    command += ["--box", "40,60,300,380", "--out", str(out)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "COLUMNS": "400"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    return {"status": str(done.returncode), "stderr": " ".join(done.stderr.split())}


def assert_mlflow_loads_fail(tracking_uri: str, model_uri: str, version: str, source: str) -> None:
    """MLflow's own loaders, through the project's ``models`` artifact repository: the error
    names the version and its source instead of an empty download or a missing MLmodel."""
    import mlflow.artifacts
    import mlflow.pyfunc

    from tasks.models_repository import MissingModelFiles

    named = f"{model_uri} (version {version} of {NAME}, files at {source}): "
    with tracking_uri_set_to(tracking_uri), pytest.raises(MissingModelFiles) as loaded:
        mlflow.pyfunc.load_model(model_uri)
    assert str(loaded.value).startswith(named), loaded.value
    with tracking_uri_set_to(tracking_uri), pytest.raises(MissingModelFiles) as downloaded:
        mlflow.artifacts.download_artifacts(model_uri)
    assert str(downloaded.value) == str(loaded.value)


def test_lost_files_are_errors_naming_the_version_and_listed(
    server: tuple[str, Path], coco_mini: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    uri, artifacts = server
    client = MlflowClient(uri)
    package = tmp_path / "package"
    package.mkdir()
    (package / "MLmodel").write_text("flavors: {}\n")
    wiped, wiped_source = register_files(uri, package)
    deleted, deleted_source = register_files(uri, package)
    client.set_registered_model_alias(NAME, "champion", deleted)
    assert lost_versions(uri) == []

    shutil.rmtree(artifacts)
    client.delete_logged_model(deleted_source.removeprefix("models:/"))

    image = coco_mini / "val2017" / "000000104455.jpg"
    out = tmp_path / "masks.npz"
    by_version = gms_segment(f"models:/{NAME}/{wiped}", uri, image, out)
    assert by_version["status"] == "2", by_version
    assert (
        f"error: models:/{NAME}/{wiped} (version {wiped} of {NAME}, files at {wiped_source}): "
        "the artifact store holds no files for it" in by_version["stderr"]
    ), by_version

    by_alias = gms_segment(f"models:/{NAME}@champion", uri, image, out)
    assert by_alias["status"] == "2", by_alias
    assert (
        f"error: models:/{NAME}@champion (version {deleted} of {NAME}, files at "
        f"{deleted_source}): downloading it failed: RESOURCE_DOES_NOT_EXIST" in by_alias["stderr"]
    ), by_alias
    assert not out.exists()
    with pytest.raises(RegistryError, match=rf"version {deleted} of {NAME}.*downloading it fail"):
        download_package(f"models:/{NAME}@champion", uri, tmp_path / "download")

    lost = lost_versions(uri)
    assert_mlflow_loads_fail(uri, f"models:/{NAME}/{wiped}", wiped, wiped_source)
    assert_mlflow_loads_fail(uri, f"models:/{NAME}@champion", deleted, deleted_source)

    assert f"{NAME}/{wiped} -> {wiped_source}" in lost
    failed = f"{NAME}/{deleted} -> {deleted_source} (listing its files failed: "
    assert [line for line in lost if line.startswith(failed)] and len(lost) == 2, lost
