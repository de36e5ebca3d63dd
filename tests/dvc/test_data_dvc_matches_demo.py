"""The committed data.dvc records exactly the built-in demo data (seed 0, scale small)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gms_cli.tracked_data import commit_tracked, tracked_status
from gms_models.data.manifest import read_manifest
from gms_models.errors import DataError
from tests.dvc.scratch import run

pytestmark = pytest.mark.timeout(300)


def test_fresh_clone_is_clean_after_fetching_the_demo_data(scratch_repo: Path) -> None:
    fetched = run(["gms", "data", "fetch"], cwd=scratch_repo)
    assert fetched.returncode == 0, fetched.stderr
    assert "source: demo" in fetched.stderr  # no remote configured: auto means demo
    assert "added to the DVC cache" in fetched.stderr

    status = run(["dvc", "status", "--json"], cwd=scratch_repo)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {}

    record = yaml.safe_load((scratch_repo / "data.dvc").read_text())["outs"][0]
    files = [p for p in (scratch_repo / "data").rglob("*") if p.is_file()]
    assert record["nfiles"] == len(files) == len(read_manifest(scratch_repo / "data")["files"]) + 1
    assert record["size"] == sum(p.stat().st_size for p in files)


def test_other_data_is_reported_and_never_cached(scratch_repo: Path) -> None:
    made = run(["gms", "data", "demo", "--out", "data", "--seed", "1"], cwd=scratch_repo)
    assert made.returncode == 0, made.stderr
    before = (scratch_repo / "data.dvc").read_text()

    assert tracked_status(scratch_repo, "data.dvc") == {"data": "modified"}
    with pytest.raises(DataError, match=r"does not match data\.dvc \(data modified\)"):
        commit_tracked(scratch_repo, "data.dvc")
    assert (scratch_repo / "data.dvc").read_text() == before
    assert not (scratch_repo / ".dvc" / "cache").exists()
