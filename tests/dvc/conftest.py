"""Fixtures of the DVC tests: a scratch repository that looks like a fresh clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dvc.scratch import make_scratch_repo


@pytest.fixture
def scratch_repo(repo_root: Path, tmp_path: Path) -> Path:
    return make_scratch_repo(repo_root, tmp_path / "clone")
