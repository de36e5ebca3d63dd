"""Errors the library raises for bad input: a :class:`GmsError` names the file, field or value at
fault, and the CLI turns it into one line and exit status 2."""

from __future__ import annotations

import http.client
import urllib.error
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class GmsError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class CheckpointError(GmsError):
    """A checkpoint is missing, corrupt, of the wrong layout, or failed its checksum."""


class ImageError(GmsError):
    """An image is missing, unreadable or of an unsupported kind."""


class PromptError(GmsError):
    """A prompt (box, point, mask) is empty, malformed or outside the image."""


class ConfigError(GmsError):
    """A model or run configuration is invalid."""


class DataError(GmsError):
    """A dataset folder or annotation file is missing pieces or malformed."""


class DownloadError(GmsError):
    """A download failed after its retries or its checksum; ``transient``: trying again later
    may succeed (the server or network was down)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an explicit cause) may go away on a retry: timeouts, connection
    errors, HTTP 5xx/408/429 and a transient :class:`DownloadError`."""
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
    """``model`` from ``values``; errors become one :class:`ConfigError` naming each bad field."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(config)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid {what}: {problems}") from None
