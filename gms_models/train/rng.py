"""Seeding and capturing the random number generators, so a resumed run continues exactly; the
states take a form ``torch.load(weights_only=True)`` accepts (numpy's key array as a tensor)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def global_rng_state() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": np_state["bit_generator"],
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        },
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TorchRngStream:
    """A private copy of torch's global RNG state, swapped in around one student's steps, so that
    its draws (drop path, dropout) are those it would make alone, whatever trains beside it."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    def __enter__(self) -> TorchRngStream:
        self._outer = (torch.get_rng_state(), self._get_cuda())
        self._set(self.cpu, self.cuda)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu, self.cuda = torch.get_rng_state(), self._get_cuda()
        self._set(*self._outer)

    def state(self) -> dict[str, Any]:
        return {"torch": self.cpu, **({"cuda": self.cuda} if self.cuda is not None else {})}

    def load(self, state: dict[str, Any]) -> None:
        self.cpu = state["torch"]
        if "cuda" in state and torch.cuda.is_available():
            self.cuda = state["cuda"]

    @staticmethod
    def _get_cuda() -> list[torch.Tensor] | None:
        return torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    @staticmethod
    def _set(cpu: torch.Tensor, cuda: list[torch.Tensor] | None) -> None:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
