"""Errors of the exporters: each means that no artifact was written."""

from gms_models.errors import GmsError


class ExportError(GmsError): ...


class ParityError(ExportError): ...


class EngineBuildError(ExportError): ...
