"""Fixtures of the trainer tests: a folder of small images (the stand-in module is the
``standins`` fixture of ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory: pytest.TempPathFactory, standins: ModuleType) -> Path:
    """Twelve small PNGs."""
    return standins.write_images(tmp_path_factory.mktemp("tiny_images"), 12)
