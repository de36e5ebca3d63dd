"""Errors of the runtime (apart from the export code, which needs torch)."""

from gms_models.errors import GmsError


class BundleError(GmsError): ...


class BackendUnavailableError(GmsError):
    """The requested runtime (TensorRT, a CUDA provider) cannot run here; the message says why."""
