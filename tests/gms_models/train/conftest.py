"""Fixtures of the trainer tests: the stand-in module and a folder of small images."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def standins() -> ModuleType:
    """``tests/gms_models/train/standins.py`` loaded as a module."""
    spec = importlib.util.spec_from_file_location("gms_train_standins", HERE / "standins.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory: pytest.TempPathFactory, standins: ModuleType) -> Path:
    """Twelve small PNGs."""
    return standins.write_images(tmp_path_factory.mktemp("tiny_images"), 12)
