"""The shared store: a work folder pushed by one checkout is pulled by another (its outputs'
paths relocated), changed files only, on a folder store and on S3 (moto, in this process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.store import STORE_ENV, pull, push


def finished_folder(runs_dir: Path) -> Path:
    work = runs_dir / "work" / "distill" / "gmf_2282-0123456789abcdef"
    work.mkdir(parents=True)
    (work / "last.pt").write_bytes(b"weights")
    (work / "outputs.json").write_text(
        json.dumps({"checkpoint": str(work / "last.pt"), "loss": [0.5], "arch": "gmf_2282"})
    )
    return work


def round_trip(tmp_path: Path) -> None:
    first, second = (tmp_path / "a" / "runs").resolve(), (tmp_path / "b" / "runs").resolve()
    work = finished_folder(first)
    push(first, work)
    elsewhere = second / work.relative_to(first)
    assert pull(second, elsewhere)
    assert (elsewhere / "last.pt").read_bytes() == b"weights"
    outputs = json.loads((elsewhere / "outputs.json").read_text())
    assert outputs == {"checkpoint": str(elsewhere / "last.pt"), "loss": [0.5], "arch": "gmf_2282"}
    # a new epoch's checkpoint on the first host reaches the second; nothing else is copied
    (work / "last.pt").write_bytes(b"weights, epoch 2")
    push(first, work)
    unchanged = (elsewhere / "outputs.json").stat().st_mtime_ns
    assert pull(second, elsewhere)
    assert (elsewhere / "last.pt").read_bytes() == b"weights, epoch 2"
    assert (elsewhere / "outputs.json").stat().st_mtime_ns == unchanged
    assert not pull(second, second / "work" / "distill" / "never-pushed")


def test_folder_store_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "store"))
    round_trip(tmp_path)


def test_without_a_store_nothing_is_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)
    work = finished_folder(tmp_path / "runs")
    push(tmp_path / "runs", work)
    assert not pull(tmp_path / "other", tmp_path / "other" / "work")
    assert sorted(p.name for p in work.iterdir()) == ["last.pt", "outputs.json"]


def test_s3_store_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    from gms_cli.stack.launcher import free_ports

    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
            STORE_ENV: "s3://gms-work/team",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="gms-work")
        round_trip(tmp_path)
    finally:
        server.stop()
