"""Encoders by name, each (B,3,S,S) SAM-normalised -> (B,256,S/16,S/16) features."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from gms_models.errors import ConfigError

EncoderBuilder = Callable[..., nn.Module]

_REGISTRY: dict[str, EncoderBuilder] = {}


def register_encoder(name: str) -> Callable[[EncoderBuilder], EncoderBuilder]:

    def decorate(builder: EncoderBuilder) -> EncoderBuilder:
        if name in _REGISTRY and _REGISTRY[name] is not builder:
            raise ConfigError(f"encoder name {name!r} is registered twice")
        _REGISTRY[name] = builder
        return builder

    return decorate


def list_encoders() -> list[str]:
    import gms_models.encoders  # noqa: F401  (registers the families)

    return sorted(_REGISTRY)


def build_encoder(name: str, **overrides: Any) -> nn.Module:
    import gms_models.encoders  # noqa: F401  (registers the families)

    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown encoder {name!r}; known encoders: {known}")
    return _REGISTRY[name](**overrides)
