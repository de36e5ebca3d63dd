"""Errors of the standalone runtime (kept apart from the export code, which needs torch)."""

from gms_models.errors import GmsError


class BundleError(GmsError):
    """An export folder is missing, incomplete or holds files that do not fit together."""


class BackendUnavailableError(GmsError):
    """The requested runtime (TensorRT, a CUDA provider) cannot run here; the message says why."""
