"""DVC data and MLflow artifacts on one real S3-compatible server (moto) on 127.0.0.1, and a
second one that checks credentials.

moto accepts any key pair unless IAM checks are switched on, so the ``strict_s3`` server gets an
IAM user with an access key while checks are still off, then turns them on
(``/moto-api/reset-auth``): from then on only that key pair is accepted. The MLflow server runs
against the other, ``shared``, server: MLflow 3 downloads artifacts through presigned URLs, which
moto's IAM checks do not support.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from gms_cli.stack.launcher import free_ports, running_services
from gms_cli.stack.services import (
    DVC_BUCKET,
    MLFLOW_BUCKET,
    S3Endpoint,
    mlflow_server_spec,
    s3_server_spec,
)
from gms_cli.tracked_data import check_s3_remote, configured_remote
from tests.dvc.scratch import clean_env, run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@dataclass(frozen=True)
class Servers:
    s3: S3Endpoint
    mlflow_url: str


def _enforce_iam_auth(endpoint_url: str) -> S3Endpoint:
    """Create an all-powerful IAM user's key, then make moto check every request's signature."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint_url,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
        region_name="us-east-1",
    )
    iam.create_user(UserName="gms-test")
    allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [allow_all]}
    iam.put_user_policy(UserName="gms-test", PolicyName="all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="gms-test")["AccessKey"]
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/reset-auth",
        data=b"0",
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return S3Endpoint(
        url=endpoint_url, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"]
    )


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """One S3 server for DVC and for the artifacts of an MLflow server."""
    state = tmp_path_factory.mktemp("shared")
    s3_port, mlflow_port = free_ports(2)
    s3 = S3Endpoint(url=f"http://127.0.0.1:{s3_port}")
    specs = [
        s3_server_spec(s3_port, endpoint=s3),
        mlflow_server_spec(mlflow_port, state / "mlflow", s3=s3),
    ]
    with running_services(specs, state) as started:
        yield Servers(s3=s3, mlflow_url=str(started["mlflow"].url))


@pytest.fixture(scope="module")
def strict_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """An S3 server that accepts only the key pair of the endpoint it yields."""
    (port,) = free_ports(1)
    with running_services([s3_server_spec(port)], tmp_path_factory.mktemp("strict")) as started:
        yield _enforce_iam_auth(str(started["s3"].url))


def add_remote(repo: Path, endpoint: S3Endpoint, *, local_keys: bool) -> None:
    commands = [
        ["dvc", "remote", "add", "-d", "store", f"s3://{DVC_BUCKET}/data"],
        ["dvc", "remote", "modify", "store", "endpointurl", endpoint.url],
    ]
    if local_keys:
        for option, value in (
            ("access_key_id", endpoint.access_key),
            ("secret_access_key", endpoint.secret_key),
        ):
            commands.append(["dvc", "remote", "modify", "--local", "store", option, value])
    for args in commands:
        done = run(args, cwd=repo)
        assert done.returncode == 0, done.stderr


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def s3_keys(endpoint: S3Endpoint, bucket: str) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=endpoint.region,
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@pytest.mark.slow  # 154 s on a quiet 2-core machine (CI log): out of the 10-minute default run
def test_push_wipe_pull_is_byte_identical(
    shared: Servers, scratch_repo: Path, tmp_path: Path
) -> None:
    fetched = run(["gms", "data", "fetch", "--source", "demo"], cwd=scratch_repo)
    assert fetched.returncode == 0, fetched.stderr
    original = digests(scratch_repo / "data")
    add_remote(scratch_repo, shared.s3, local_keys=True)
    assert shared.s3.secret_key not in (scratch_repo / ".dvc" / "config").read_text()
    assert shared.s3.secret_key in (scratch_repo / ".dvc" / "config.local").read_text()
    # no key in the environment or ~/.aws: only config.local can provide them
    env = clean_env({"HOME": str(tmp_path / "home"), "AWS_EC2_METADATA_DISABLED": "true"})

    pushed = run(["dvc", "push"], cwd=scratch_repo, env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert len(s3_keys(shared.s3, DVC_BUCKET)) == len(original) + 1  # files + the .dir listing

    shutil.rmtree(scratch_repo / "data")
    shutil.rmtree(scratch_repo / ".dvc" / "cache")
    pulled = run(["gms", "data", "fetch"], cwd=scratch_repo, env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "source: remote" in pulled.stderr and "pulled" in pulled.stderr

    assert digests(scratch_repo / "data") == original
    status = run(["dvc", "status", "--json"], cwd=scratch_repo, env=env)
    assert json.loads(status.stdout) == {}
    again = run(["gms", "data", "fetch"], cwd=scratch_repo, env=env)
    assert again.returncode == 0 and "already up to date" in again.stderr

    edited = scratch_repo / "data" / "malsd" / "test_points.json"
    edited.write_text("{}")
    refused = run(["gms", "data", "fetch"], cwd=scratch_repo, env=env)
    assert refused.returncode == 2
    assert "differs from data.dvc; pass --force" in " ".join(refused.stderr.split())
    assert edited.read_text() == "{}"
    forced = run(["gms", "data", "fetch", "--force"], cwd=scratch_repo, env=env)
    assert forced.returncode == 0, forced.stderr
    assert digests(scratch_repo / "data") == original


@pytest.mark.parametrize(
    ("access_key", "secret_key", "code"),
    [("AKIANOSUCHKEY0000000", "whatever", "InvalidAccessKeyId"), (None, "wrong", "Signature")],
)
def test_rejected_credentials_are_named(
    strict_s3: S3Endpoint, scratch_repo: Path, access_key: str | None, secret_key: str, code: str
) -> None:
    add_remote(scratch_repo, strict_s3, local_keys=False)
    remote = configured_remote(scratch_repo)
    assert remote is not None
    right = {"access_key_id": strict_s3.access_key, "secret_access_key": strict_s3.secret_key}
    check_s3_remote(replace(remote, options={**remote.options, **right}), attempts=1)

    keys = {
        "AWS_ACCESS_KEY_ID": access_key or strict_s3.access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
    }
    result = run(["gms", "data", "fetch"], cwd=scratch_repo, env=clean_env(keys))
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "DVC remote 'store'" in message
    assert "rejected the credentials from the environment" in message
    assert code in message
    assert not (scratch_repo / "data").exists()


def test_mlflow_artifacts_go_to_the_same_s3_server(shared: Servers, tmp_path: Path) -> None:
    import mlflow

    client = mlflow.MlflowClient(shared.mlflow_url)
    run_id = client.create_run(client.create_experiment("dvc-remote-shares-s3")).info.run_id
    note = tmp_path / "note.txt"
    note.write_text("artifact through the MLflow server into S3")
    client.log_artifact(run_id, str(note))

    back = Path(client.download_artifacts(run_id, "note.txt", str(tmp_path / "back")))
    assert back.read_text() == note.read_text()
    stored = [k for k in s3_keys(shared.s3, MLFLOW_BUCKET) if k.endswith("/note.txt")]
    assert len(stored) == 1 and run_id in stored[0]
