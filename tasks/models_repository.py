"""``models:/`` downloads that say when the store lost a version's files (MLflow downloads an
empty folder and then reports a missing MLmodel file). Registered by :mod:`tasks.mlflow_plugins`."""

from __future__ import annotations

import os
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository


class MissingModelFiles(MlflowException):
    """The registry names a model whose files the artifact store cannot serve."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.reason = reason


def describe_registered(model_uri: str, registry_uri: str | None) -> str:
    """How errors name a ``models:/`` URI (a logged model's ``models:/<model_id>`` as is)."""
    from mlflow import MlflowClient

    from tasks.registry import name_version, resolve_version

    path = model_uri.removeprefix("models:/")
    if "@" not in path and "/" not in path:
        return model_uri
    version = resolve_version(MlflowClient(registry_uri=registry_uri), model_uri)
    return name_version(model_uri, version.name, version.version, version.source)


class CheckedModelsArtifactRepository(ModelsArtifactRepository):
    """MLflow's ``models:/`` repository, failing loudly on files the store no longer has."""

    def __init__(
        self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
    ) -> None:
        try:
            super().__init__(artifact_uri, tracking_uri, registry_uri)
        except MlflowException as exc:
            reason = (
                exc.reason
                if isinstance(exc, MissingModelFiles)
                else f"downloading it failed: {exc.message}"
            )
            from tasks.registry import RegistryError

            try:
                what = describe_registered(artifact_uri, registry_uri)
            except RegistryError:
                raise exc from None  # the URI names no model: MLflow's error says so
            raise MissingModelFiles(what, reason) from exc

    def download_artifacts(
        self, artifact_path: str, dst_path: str | None = None, lineage_header_info: Any = None
    ) -> str:
        try:
            local: str = super().download_artifacts(  # type: ignore[no-untyped-call]
                artifact_path, dst_path, lineage_header_info
            )
        except MissingModelFiles as exc:
            what = describe_registered(self.artifact_uri, self.registry_uri)
            raise MissingModelFiles(what, exc.reason) from exc
        if not artifact_path and os.path.isdir(local) and not os.listdir(local):
            from tasks.registry import FILES_LOST

            what = describe_registered(self.artifact_uri, self.registry_uri)
            raise MissingModelFiles(what, FILES_LOST)
        return local
