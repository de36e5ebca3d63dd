"""`gms data fetch` against remotes that cannot work: nothing listening, no credentials, none."""

from __future__ import annotations

from pathlib import Path

import pytest

from gms_cli.stack.launcher import free_ports
from tests.dvc.scratch import clean_env, run

pytestmark = pytest.mark.timeout(300)
KEYS = {"AWS_ACCESS_KEY_ID": "some-key", "AWS_SECRET_ACCESS_KEY": "some-secret"}


def add_s3_remote(repo: Path, endpoint: str) -> None:
    for args in (
        ["dvc", "remote", "add", "-d", "store", "s3://gms-dvc/data"],
        ["dvc", "remote", "modify", "store", "endpointurl", endpoint],
    ):
        done = run(args, cwd=repo)
        assert done.returncode == 0, done.stderr


def entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_unreachable_remote_fails_after_bounded_retries_and_leaves_no_data(
    scratch_repo: Path,
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    add_s3_remote(scratch_repo, f"http://127.0.0.1:{port}")
    before = entries(scratch_repo)

    # Bounded: the message counts the attempts made; a hang would hit the module's timeout.
    result = run(["gms", "data", "fetch", "--retries", "2"], cwd=scratch_repo, env=clean_env(KEYS))

    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "source: remote" in message
    assert f"cannot reach DVC remote 'store' (s3://gms-dvc/data at http://127.0.0.1:{port})" in (
        message
    )
    assert "after 2 attempts" in message
    assert entries(scratch_repo) == before  # no data/, no staging folder


def test_missing_credentials_are_named(scratch_repo: Path, tmp_path: Path) -> None:
    (port,) = free_ports(1)
    add_s3_remote(scratch_repo, f"http://127.0.0.1:{port}")
    env = clean_env({"HOME": str(tmp_path / "home"), "AWS_EC2_METADATA_DISABLED": "true"})

    result = run(["gms", "data", "fetch", "--source", "remote"], cwd=scratch_repo, env=env)

    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "no usable credentials for DVC remote 'store'" in message
    assert "dvc remote modify --local store access_key_id" in message
    assert not (scratch_repo / "data").exists()


def test_remote_source_needs_a_configured_remote(scratch_repo: Path) -> None:
    result = run(["gms", "data", "fetch", "--source", "remote"], cwd=scratch_repo)
    assert result.returncode == 2
    assert "no DVC remote is configured" in " ".join(result.stderr.split())


def test_coco_options_are_refused_for_other_sources(scratch_repo: Path) -> None:
    result = run(
        ["gms", "data", "fetch", "--source", "demo", "--malsd", "x", "--val-limit", "3"],
        cwd=scratch_repo,
    )
    assert result.returncode == 2
    assert "--malsd, --val-limit only apply to --source coco" in " ".join(result.stderr.split())
    assert not (scratch_repo / "data").exists()
