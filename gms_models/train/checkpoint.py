"""Student checkpoint files: writing them atomically and reading them back with clear errors.

Two files per run folder, both ``torch.save`` dicts that load with ``weights_only=True``:

- ``student.pt``, the student alone, for evaluation and export::

      {"format": "gms-student/1", "arch": "gmf_2282", "img_size": 1024,
       "state_dict": {...}, "config": {... DistillConfig as JSON ...}}

- ``last.pt``, the training state after the last finished epoch, for ``resume``: the same keys
  (``format`` is ``"gms-distill-state/1"``) plus ``epoch`` (epochs finished), ``step``,
  ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (``global``: python/numpy/torch/CUDA,
  ``loader``: the data loader's generator, ``student``: the student's private torch stream),
  ``loss_history``, ``images_seen`` and ``feature_pictures``. A failed student's folder also
  holds ``failure.json`` (see :mod:`gms_models.train.student`).

Either file loads with :func:`load_student`, which builds the encoder from the registry.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gms_models.errors import CheckpointError
from gms_models.files import atomic_write

STUDENT_FORMAT = "gms-student/1"
STATE_FORMAT = "gms-distill-state/1"
STUDENT_FILE = "student.pt"
STATE_FILE = "last.pt"


@dataclass(frozen=True)
class StudentCheckpoint:
    """A student checkpoint as read from disk."""

    path: Path
    arch: str
    img_size: int
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """``torch.save`` ``payload`` to ``path`` atomically (temp file + ``os.replace``)."""
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def save_student(
    path: str | Path,
    *,
    arch: str,
    img_size: int,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
) -> Path:
    """Write a ``student.pt`` (see the module docstring) atomically."""
    payload = {
        "format": STUDENT_FORMAT,
        "arch": arch,
        "img_size": img_size,
        "state_dict": state_dict,
        "config": config,
    }
    return save_checkpoint(path, payload)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict on the CPU with ``weights_only=True``; problems → CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} is not a gms checkpoint: it holds a {type(payload)}")
    return payload


def read_student_checkpoint(
    path: str | Path, expected_arch: str | None = None
) -> StudentCheckpoint:
    """Read a ``student.pt`` or ``last.pt``; ``expected_arch`` must match the stored arch."""
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
        path=path,
        arch=arch,
        img_size=int(payload["img_size"]),
        state_dict=payload["state_dict"],
        config=payload.get("config", {}),
    )


def load_student(
    path: str | Path,
    expected_arch: str | None = None,
    *,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build the checkpoint's encoder from the registry, load its weights (strict), eval mode.

    Raises :class:`CheckpointError` naming both archs when ``expected_arch`` differs from the
    checkpoint's, and naming the file when the weights do not fit the architecture.
    """
    from gms_models.registry import build_encoder

    checkpoint = read_student_checkpoint(path, expected_arch)
    model = build_encoder(checkpoint.arch, img_size=checkpoint.img_size)
    try:
        model.load_state_dict(checkpoint.state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"weights in {checkpoint.path} do not fit encoder {checkpoint.arch!r}: {exc}"
        ) from exc
    return model.to(device).eval()
