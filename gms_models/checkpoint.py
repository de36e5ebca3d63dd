"""Checkpoints: state dicts (plain or under "model"/"state_dict", path or cached URL) and the
student's ``weights_only`` dicts: ``student.pt`` (format, arch, img_size, state_dict, config) and
``last.pt`` (format ``gms-distill-state/1``: the same plus the training state after an epoch)."""

from __future__ import annotations

import hashlib
import logging
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import torch
from torch import nn

from gms_models.download import download_file
from gms_models.errors import CheckpointError
from gms_models.files import atomic_write, default_cache_dir, sha256_file

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]

STUDENT_FORMAT = "gms-student/1"
STATE_FORMAT = "gms-distill-state/1"
STUDENT_FILE = "student.pt"
STATE_FILE = "last.pt"

_WRAPPER_KEYS = ("state_dict", "model")
_NAMES_SHOWN = 5


def checkpoint_cache_dir() -> Path:
    return default_cache_dir() / "checkpoints"


def cached_path_for(url: str, cache_dir: Path) -> Path:
    name = Path(unquote(urlparse(url).path)).name or "checkpoint"
    url_hash = hashlib.sha256(url.encode()).hexdigest()[:12]
    return cache_dir / f"{url_hash}-{name}"


def fetch_checkpoint(
    url: str, *, sha256: str | None = None, cache_dir: Path | None = None, progress: bool = True
) -> Path:
    """``url``'s file in the cache, downloaded unless there and matching ``sha256``."""
    if sha256 is None and urlparse(url).scheme == "http":
        log.warning(
            "checkpoint %s comes over plain http unverified: give its sha256 to check it", url
        )
    dest = cached_path_for(url, cache_dir or checkpoint_cache_dir())
    expected = sha256.lower() if sha256 else None
    if dest.is_file() and (expected is None or sha256_file(dest) == expected):
        return dest
    dest.unlink(missing_ok=True)
    download_file(url, dest, progress=progress)
    if expected is not None and (actual := sha256_file(dest)) != expected:
        dest.unlink()
        raise CheckpointError(
            f"sha256 mismatch for checkpoint {url}: expected {expected}, got {actual}; "
            "the downloaded file was deleted"
        )
    return dest


def resolve_checkpoint(
    source: str | Path,
    *,
    sha256: str | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Local file of ``source``: a URL is fetched, a path checked (a bad one is left in place)."""
    if isinstance(source, str) and urlparse(source).scheme in ("http", "https"):
        return fetch_checkpoint(source, sha256=sha256, cache_dir=cache_dir, progress=progress)
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if sha256 is not None and (actual := sha256_file(path)) != sha256.lower():
        raise CheckpointError(
            f"sha256 mismatch for checkpoint {path}: expected {sha256.lower()}, got {actual}"
        )
    return path


def _torch_load(path: Path) -> object:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc


def load_checkpoint_state(
    source: str | Path, *, sha256: str | None = None, cache_dir: Path | None = None
) -> StateDict:
    path = resolve_checkpoint(source, sha256=sha256, cache_dir=cache_dir)
    obj = _torch_load(path)
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


def select_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


@dataclass
class StateDictMismatch:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mis_shaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def is_empty(self, *, strict: bool = True) -> bool:
        keys_ok = not (self.missing or self.unexpected) or not strict
        return keys_ok and not self.mis_shaped

    def describe(self, *, strict: bool = True) -> str:
        shapes = [f"{k} (checkpoint {list(a)} vs model {list(b)})" for k, a, b in self.mis_shaped]
        kinds = {"missing": self.missing, "unexpected": self.unexpected} if strict else {}
        kinds["mis-shaped"] = shapes
        return "; ".join(_listing(kind, names) for kind, names in kinds.items() if names)


def _listing(kind: str, names: list[str]) -> str:
    more = f", ... ({len(names) - _NAMES_SHOWN} more)" if len(names) > _NAMES_SHOWN else ""
    plural = "key" if len(names) == 1 else "keys"
    return f"{len(names)} {kind} {plural}: {', '.join(names[:_NAMES_SHOWN])}{more}"


def compare_state_dicts(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> StateDictMismatch:
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
    """Load ``state``, all mismatches in one error (``strict=False`` allows all but shapes)."""
    mismatch = compare_state_dicts(module.state_dict(), state)
    if not mismatch.is_empty(strict=strict):
        raise CheckpointError(
            f"{source} does not match {type(module).__name__}: {mismatch.describe(strict=strict)}"
        )
    module.load_state_dict(state, strict=strict)


def load_pretrained_backbone(
    module: nn.Module, path: str | Path, *, layout: str, ignore: tuple[str, ...] = ()
) -> list[str]:
    """Load ``module`` but ``ignore``-prefixed keys from a local file; return the unused keys."""
    path = Path(path)  # never fetched as a URL
    state = load_checkpoint_state(path)
    own = {k: v for k, v in module.state_dict().items() if not k.startswith(ignore)}
    mismatch = compare_state_dicts(own, state)
    if mismatch.missing or mismatch.mis_shaped:
        raise CheckpointError(
            f"checkpoint {path} is not in {layout} layout: {mismatch.describe(strict=True)}"
        )
    module.load_state_dict({k: state[k] for k in own}, strict=not ignore)
    skipped = mismatch.unexpected
    log.info("loaded %d tensors from %s; skipped %d: %s", len(own), path, len(skipped), skipped)
    return skipped


@dataclass(frozen=True)
class StudentCheckpoint:
    path: Path
    arch: str
    img_size: int
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]

    def build_encoder(self, img_size: int | None = None) -> nn.Module:
        """The registry's encoder at ``img_size`` (default: trained size), loaded strictly, eval."""
        from gms_models.registry import build_encoder

        size = img_size or self.img_size
        model = build_encoder(self.arch, img_size=size)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"weights in {self.path} (trained at img_size {self.img_size}) do not fit "
                f"encoder {self.arch!r} at img_size {size}: {exc}"
            ) from exc
        return model.eval()


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def save_student(
    path: str | Path,
    *,
    arch: str,
    img_size: int,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
) -> Path:
    payload = {"format": STUDENT_FORMAT, "arch": arch, "img_size": img_size}
    return save_checkpoint(path, {**payload, "state_dict": state_dict, "config": config})


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    payload = _torch_load(path)
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} is not a gms checkpoint: it holds a {type(payload)}")
    return payload


def read_student_checkpoint(
    path: str | Path, expected_arch: str | None = None
) -> StudentCheckpoint:
    path = Path(path)
    payload = read_checkpoint(path)
    if payload.get("format") not in (STUDENT_FORMAT, STATE_FORMAT):
        keys = ", ".join(sorted(str(k) for k in payload)[:8])
        raise CheckpointError(
            f"{path} is not a gms student checkpoint (no format {STUDENT_FORMAT!r}; "
            f"top-level keys: {keys})"
        )
    arch = payload["arch"]
    if expected_arch is not None and arch != expected_arch:
        raise CheckpointError(
            f"checkpoint {path} holds a {arch!r} student, but {expected_arch!r} was expected"
        )
    return StudentCheckpoint(
        path, arch, int(payload["img_size"]), payload["state_dict"], payload.get("config", {})
    )


def load_student(path: str | Path, expected_arch: str | None = None) -> nn.Module:
    return read_student_checkpoint(path, expected_arch).build_encoder()
