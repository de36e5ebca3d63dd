"""Reading checkpoints (local path or URL with sha256 and cache) and strict state-dict loading.

A URL is downloaded once into the cache folder (``$GMS_CACHE/checkpoints``, default
``~/.cache/gms/checkpoints``) and reused from there without network access when its sha256
matches. A file whose sha256 does not match is deleted and a :class:`CheckpointError` names the
expected and actual hash. Loading into a model compares keys and shapes first and reports every
missing, unexpected and mis-shaped key (a few names of each, plus counts) in one error.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import torch
from torch import nn

from gms_models.download import download_file, sha256_file
from gms_models.errors import CheckpointError

StateDict = dict[str, torch.Tensor]

# Training code often saves {"model": state_dict, "optimizer": ...}; accept those wrappers.
_WRAPPER_KEYS = ("state_dict", "model")
_NAMES_SHOWN = 5


def default_cache_dir() -> Path:
    """``$GMS_CACHE/checkpoints`` if ``GMS_CACHE`` is set, else ``~/.cache/gms/checkpoints``."""
    root = os.environ.get("GMS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "gms") / "checkpoints"


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and urlparse(source).scheme in ("http", "https")


def cached_path_for(url: str, cache_dir: Path) -> Path:
    """Cache file of ``url``: its file name prefixed by a short hash of the whole URL."""
    name = Path(unquote(urlparse(url).path)).name or "checkpoint"
    url_hash = hashlib.sha256(url.encode()).hexdigest()[:12]
    return cache_dir / f"{url_hash}-{name}"


def fetch_checkpoint(
    url: str, *, sha256: str | None = None, cache_dir: Path | None = None, progress: bool = True
) -> Path:
    """Local path of ``url``'s file, downloading it into the cache unless already there.

    With ``sha256`` a cached file is reused only if its hash matches; a mismatching download is
    deleted. Without ``sha256`` an already cached file is reused as is.
    """
    dest = cached_path_for(url, cache_dir or default_cache_dir())
    expected = sha256.lower() if sha256 else None
    if dest.is_file():
        if expected is None:
            return dest
        actual = sha256_file(dest)
        if actual == expected:
            return dest
        dest.unlink()  # stale or corrupt cache entry: fetch again
    download_file(url, dest, progress=progress)
    if expected is not None:
        actual = sha256_file(dest)
        if actual != expected:
            dest.unlink()
            raise CheckpointError(
                f"sha256 mismatch for checkpoint {url}: expected {expected}, got {actual}; "
                "the downloaded file was deleted"
            )
    return dest


def read_state_dict(path: Path) -> StateDict:
    """Tensors of a ``torch.save``-d state dict (plain, or wrapped under "model"/"state_dict")."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"checkpoint {path} does not hold a state dict (got {type(obj)})")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"checkpoint {path} is not a state dict: {len(bad)} entries are not named tensors, "
            f"e.g. {bad[:_NAMES_SHOWN]}"
        )
    return dict(obj)


def load_checkpoint_state(
    source: str | Path, *, sha256: str | None = None, cache_dir: Path | None = None
) -> StateDict:
    """State dict from a local file or an http(s) URL (downloaded into the cache, sha256-checked).

    A local file with a wrong ``sha256`` raises :class:`CheckpointError` and is left in place.
    """
    if is_url(source):
        path = fetch_checkpoint(str(source), sha256=sha256, cache_dir=cache_dir)
    else:
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path}")
        if sha256 is not None:
            actual = sha256_file(path)
            if actual != sha256.lower():
                raise CheckpointError(
                    f"sha256 mismatch for checkpoint {path}: expected {sha256.lower()}, "
                    f"got {actual}"
                )
    return read_state_dict(path)


def select_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """Entries whose key starts with ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


@dataclass
class StateDictMismatch:
    """Differences between a model's state dict and a checkpoint's."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mis_shaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def is_empty(self, *, strict: bool = True) -> bool:
        keys_ok = not (self.missing or self.unexpected) or not strict
        return keys_ok and not self.mis_shaped

    def describe(self, *, strict: bool = True) -> str:
        parts = []
        if strict and self.missing:
            parts.append(_listing("missing", self.missing))
        if strict and self.unexpected:
            parts.append(_listing("unexpected", self.unexpected))
        if self.mis_shaped:
            shown = [
                f"{k} (checkpoint {list(got)} vs model {list(want)})"
                for k, got, want in self.mis_shaped
            ]
            parts.append(_listing("mis-shaped", shown))
        return "; ".join(parts)


def _listing(kind: str, names: list[str]) -> str:
    more = f", ... ({len(names) - _NAMES_SHOWN} more)" if len(names) > _NAMES_SHOWN else ""
    plural = "key" if len(names) == 1 else "keys"
    return f"{len(names)} {kind} {plural}: {', '.join(names[:_NAMES_SHOWN])}{more}"


def compare_state_dicts(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> StateDictMismatch:
    """Keys in ``expected`` but not ``state``, the reverse, and keys whose shapes differ."""
    return StateDictMismatch(
        missing=[k for k in expected if k not in state],
        unexpected=[k for k in state if k not in expected],
        mis_shaped=[
            (k, tuple(state[k].shape), tuple(v.shape))
            for k, v in expected.items()
            if k in state and state[k].shape != v.shape
        ],
    )


def load_state_dict_checked(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str = "checkpoint",
    strict: bool = True,
) -> None:
    """Load ``state`` into ``module`` after checking keys and shapes.

    Raises :class:`CheckpointError` listing the missing, unexpected and mis-shaped keys. With
    ``strict=False`` missing and unexpected keys are allowed, mis-shaped ones never are.
    """
    mismatch = compare_state_dicts(module.state_dict(), state)
    if not mismatch.is_empty(strict=strict):
        raise CheckpointError(
            f"{source} does not match {type(module).__name__}: {mismatch.describe(strict=strict)}"
        )
    module.load_state_dict(state, strict=strict)
