"""Byte-stable, atomic JSON files: the same object always gives the same bytes on disk."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def dumps_stable(obj: Any, *, indent: int | None = 2) -> str:
    """JSON text with sorted keys, fixed separators and a trailing newline (no NaN allowed)."""
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(obj, indent=indent, sort_keys=True, separators=separators, allow_nan=False)
    return text + "\n"


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as :func:`dumps_stable` text via a temp file in the same folder + rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(dumps_stable(obj, indent=indent))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
