"""Errors the library raises for bad input.

Every user-facing failure (a missing file, a checkpoint of the wrong layout, an impossible config)
is a :class:`GmsError` whose message names the file, field or value at fault (:func:`validate`
does so for pydantic models). The CLI turns these into a one-line message and a non-zero exit
status instead of a traceback. :func:`is_transient` tells the failures worth trying again (a
dropped connection) from those that are not (bad input).
"""

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
    """A download failed after its retries, or its content did not match the expected checksum.

    ``transient`` says whether trying again later may succeed (the server or network was down),
    as opposed to a permanent failure (HTTP 404, a checksum mismatch).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def is_transient(exc: BaseException) -> bool:
    """Whether the failure ``exc`` may go away on a retry.

    Transient: timeouts, refused or dropped connections, HTTP 5xx/408/429, and a
    :class:`DownloadError` that says so. Everything else (bad input, HTTP 4xx, a checksum
    mismatch, a full disk) is permanent. Explicit causes (``raise ... from``) are followed until
    one decides.
    """
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
