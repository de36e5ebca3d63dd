"""Errors for bad input, naming the file, field or value; the CLI prints one line, exit 2."""

from __future__ import annotations

import http.client
import urllib.error
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class GmsError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class CheckpointError(GmsError): ...


class ImageError(GmsError): ...


class PromptError(GmsError): ...


class ConfigError(GmsError): ...


class DataError(GmsError): ...


class DownloadError(GmsError):
    """``transient``: trying again later may succeed (the server or network was down)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or a cause) may pass on a retry: timeouts, connection, HTTP 5xx/408/429."""
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, DownloadError):
            return link.transient
        if isinstance(link, urllib.error.HTTPError):
            return link.code >= 500 or link.code in (408, 429)
        if isinstance(
            link, (TimeoutError, ConnectionError, urllib.error.URLError, http.client.HTTPException)
        ):
            return True
        link = link.__cause__
    return False


def validate(model: type[Model], values: Any, what: str) -> Model:
    """``model`` from ``values``, or one :class:`ConfigError` naming each bad field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(config)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid {what}: {problems}") from None
