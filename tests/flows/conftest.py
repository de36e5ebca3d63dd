"""Flow tests run in-process under Prefect's test harness (``prefect_harness``, a temporary
server for the session) with a tmp MLflow SQLite store, on the tiny demo data."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in demo data at its tiny scale (4 distillation images, 6 COCO images)."""
    from gms_models.data.demo import generate_demo

    root = tmp_path_factory.mktemp("data") / "data"
    generate_demo(root, seed=0, scale="tiny")
    return root
