"""Errors of the exporters: every one means that no artifact was written."""

from gms_models.errors import GmsError


class ExportError(GmsError):
    """An export could not be made or failed a check; nothing was left behind."""


class ParityError(ExportError):
    """An exported graph disagrees with its reference beyond the tolerance."""


class EngineBuildError(ExportError):
    """TensorRT could not parse an ONNX file or build (or load) an engine from it."""
