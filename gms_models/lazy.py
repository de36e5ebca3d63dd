"""Package attributes imported on first use (PEP 562): a package's settings load without torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any


def lazy_attributes(
    package: str, parts: Sequence[str], names: Sequence[str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` finding ``names`` in the first of ``parts`` (lightest first)."""
    exported = frozenset(names)

    def lookup(name: str) -> Any:
        if name in exported:
            for part in parts:
                module = importlib.import_module(part)
                if hasattr(module, name):
                    return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return lookup
