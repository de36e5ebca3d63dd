"""The project's MLflow plugins. MLflow loads entry points while it is itself being imported, so
this module imports nothing at load time."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tasks.models_repository import CheckedModelsArtifactRepository


def models_artifact_repo_factory(
    artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
) -> CheckedModelsArtifactRepository:
    from tasks.models_repository import CheckedModelsArtifactRepository

    return CheckedModelsArtifactRepository(artifact_uri, tracking_uri, registry_uri)
