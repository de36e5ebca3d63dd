"""Errors the library raises for bad input.

Every user-facing failure (a missing file, a checkpoint of the wrong layout, an impossible config)
is a :class:`GmsError` whose message names the file, field or value at fault (:func:`validate`
does so for pydantic models). The CLI turns these into a one-line message and a non-zero exit
status instead of a traceback.
"""

from __future__ import annotations

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
    """A download failed after its retries, or its content did not match the expected checksum."""


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
