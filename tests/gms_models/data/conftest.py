"""Demo data generated once per test session, shared by the data tests (read-only: copy it
before changing anything)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gms_models.data.demo import generate_demo


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo dataset (scale "small", seed 0)."""
    out = tmp_path_factory.mktemp("demo") / "small-seed0"
    generate_demo(out, seed=0, scale="small")
    return out
