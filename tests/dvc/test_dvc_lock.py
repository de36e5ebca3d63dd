"""The committed dvc.lock records every stage of dvc.yaml as run on the demo data with the
committed params.yaml: on a fresh clone with the demo data fetched, `dvc status` lists no
changed parameter and no changed data, only the stages' outputs as not produced yet (also as
the dependencies of later stages), and the code folders when the code changed since the lock
was written, as the README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.dvc.scratch import CODE, PIPELINE_FILES, make_pipeline_clone, run

pytestmark = pytest.mark.timeout(600)


def test_fresh_clone_status_lists_only_unproduced_outputs(repo_root: Path, tmp_path: Path) -> None:
    clone = make_pipeline_clone(repo_root, tmp_path / "clone", (*PIPELINE_FILES, "dvc.lock"))
    listed = run(["dvc", "stage", "list", "--name-only"], cwd=clone)
    assert listed.returncode == 0, listed.stderr
    locked = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    assert set(locked) == set(listed.stdout.split())  # every stage, none stale

    status = run(["dvc", "status", "--json"], cwd=clone)
    assert status.returncode == 0, status.stderr
    for stage, changes in json.loads(status.stdout).items():
        for change in changes:
            assert isinstance(change, dict), (stage, change)  # not "changed command" or the like
            assert set(change) <= {"changed deps", "changed outs"}, (stage, change)
            deps = change.get("changed deps", {})
            assert "params.yaml" not in deps and "data" not in deps, (stage, deps)
            upstream = {path: state for path, state in deps.items() if path not in CODE}
            assert set(upstream.values()) <= {"deleted"}, (stage, deps)  # earlier stages' outs
            outs = change.get("changed outs", {})
            assert set(outs.values()) <= {"deleted", "not in cache"}, (stage, outs)
