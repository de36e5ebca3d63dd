"""DVC-tracked data: pull, check and cache it with clear errors. An S3 remote is checked first
with one cheap listing (DVC says a bare "Forbidden" after long retries), and ``dvc checkout``
runs only after ``dvc fetch`` succeeded, so a failed pull leaves no partial data folder."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gms_models.errors import ConfigError, DataError, GmsError

REJECTED_CREDENTIAL_CODES = frozenset({
    "AccessDenied", "ExpiredToken", "InvalidAccessKeyId", "InvalidClientTokenId", "InvalidToken",
    "SignatureDoesNotMatch", "403",
})  # fmt: skip


class RemoteError(GmsError):
    """The DVC remote could not be used; the message says which remote and why."""


@dataclass(frozen=True)
class DvcRemote:
    """One remote of a DVC repository, with its merged settings (repo, global and --local)."""

    name: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        endpoint = self.options.get("endpointurl") or "the default AWS S3 endpoint"
        return f"DVC remote {self.name!r} ({self.url} at {endpoint})"


def find_repo_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a ``.dvc`` folder, None if none does."""
    start = Path(start).resolve()
    return next((f for f in (start, *start.parents) if (f / ".dvc").is_dir()), None)


def configured_remote(repo_root: Path, name: str | None = None) -> DvcRemote | None:
    """Remote ``name``, else the default remote (``core.remote``); None when there is none.
    Reads the configuration levels DVC reads, the git-ignored ``config.local`` included."""
    from dvc.config import Config
    from dvc.config import ConfigError as DvcConfigError

    try:
        config = Config(dvc_dir=str(Path(repo_root) / ".dvc"))
    except DvcConfigError as exc:
        raise ConfigError(f"invalid DVC configuration in {repo_root}/.dvc: {exc}") from exc
    remotes = config.get("remote", {})
    chosen = name or config.get("core", {}).get("remote")
    if chosen is None:
        return None
    if chosen not in remotes:
        known = ", ".join(sorted(remotes)) or "none"
        raise ConfigError(f"no DVC remote named {chosen!r} in {repo_root} (configured: {known})")
    options = dict(remotes[chosen])
    return DvcRemote(name=chosen, url=str(options.pop("url")), options=options)


def _credential_source(remote: DvcRemote) -> str:
    if remote.options.get("access_key_id"):
        return f"the DVC config (remote.{remote.name}.access_key_id, usually in config.local)"
    if remote.options.get("profile"):
        return f"AWS profile {remote.options['profile']!r}"
    return "the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS config)"


def _s3_client(remote: DvcRemote, timeout_s: float) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=remote.options.get("profile"))
    return session.client(
        "s3",
        endpoint_url=remote.options.get("endpointurl"),
        aws_access_key_id=remote.options.get("access_key_id"),
        aws_secret_access_key=remote.options.get("secret_access_key"),
        aws_session_token=remote.options.get("session_token"),
        region_name=remote.options.get("region") or "us-east-1",
        config=Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


def check_s3_remote(
    remote: DvcRemote, *, attempts: int = 3, backoff_s: float = 1.0, timeout_s: float = 5.0
) -> None:
    """List one key under the remote's prefix; raise a :class:`RemoteError` that says why not.
    Connection failures and 5xx are tried ``attempts`` times in all, the waits doubling from
    ``backoff_s``; missing or rejected credentials and a missing bucket fail at once."""
    import botocore.exceptions as bex

    parts = urlsplit(remote.url)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    client = _s3_client(remote, timeout_s)
    last_problem = ""
    for attempt in range(1, attempts + 1):
        try:
            client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
            return
        except (bex.NoCredentialsError, bex.PartialCredentialsError) as exc:
            raise RemoteError(
                f"no usable credentials for {remote.describe()}: {exc}. Set AWS_ACCESS_KEY_ID "
                f"and AWS_SECRET_ACCESS_KEY, or run `dvc remote modify --local {remote.name} "
                "access_key_id ...` and `... secret_access_key ...`"
            ) from exc
        except bex.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in REJECTED_CREDENTIAL_CODES or status == 403:
                raise RemoteError(
                    f"{remote.describe()} rejected the credentials from "
                    f"{_credential_source(remote)}: {code}: {error.get('Message', '')}"
                ) from exc
            if code == "NoSuchBucket":
                raise RemoteError(
                    f"bucket {bucket!r} of {remote.describe()} does not exist; create it or fix "
                    f"the url (`dvc remote modify {remote.name} url s3://BUCKET/PREFIX`)"
                ) from exc
            if status < 500:
                raise RemoteError(f"{remote.describe()} answered {code}: {exc}") from exc
            last_problem = f"server error {code}: {error.get('Message', '')}"
        except (bex.EndpointConnectionError, bex.ConnectionError, bex.HTTPClientError) as exc:
            last_problem = str(exc)
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    raise RemoteError(
        f"cannot reach {remote.describe()} after {attempts} attempts: {last_problem}. Is the S3 "
        f"server running, and is the endpoint right (`dvc remote modify {remote.name} "
        "endpointurl URL`)?"
    )


def run_dvc(repo_root: Path, *args: str) -> tuple[int, str]:
    """``dvc ARGS`` in ``repo_root``: its exit status and the end of its output."""
    cmd = [sys.executable, "-m", "dvc", *args]
    done = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, check=False)
    return done.returncode, "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])


def tracked_status(repo_root: Path, dvc_file: str) -> dict[str, str]:
    """How the workspace differs from the hashes ``dvc_file`` records: ``{path: "deleted" |
    "modified"}``, {} if equal (unlike ``dvc status``, whatever the cache holds)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(repo_root)) as repo:
            stage = repo.stage.load_one(str(Path(repo.root_dir) / dvc_file))
            status: dict[str, str] = {}
            for out in stage.outs:
                status.update(out.workspace_status())
            return status
    except DvcException as exc:
        raise DataError(f"cannot read {Path(repo_root) / dvc_file}: {exc}") from exc


def commit_tracked(repo_root: Path, dvc_file: str) -> None:
    """Copy the workspace data of ``dvc_file`` into the DVC cache; refused when the workspace
    differs from the record, so a commit never rewrites the committed hashes."""
    differs = tracked_status(repo_root, dvc_file)
    if differs:
        listed = ", ".join(f"{path} {state}" for path, state in differs.items())
        raise DataError(f"the workspace does not match {dvc_file} ({listed}); not caching it")
    code, said = run_dvc(repo_root, "commit", "--force", "--quiet", dvc_file)
    if code != 0:
        raise DataError(f"`dvc commit {dvc_file}` failed in {repo_root}:\n{said}")


def pull_tracked(
    repo_root: Path, dvc_file: str, remote: DvcRemote, *, force: bool, attempts: int
) -> bool:
    """Bring what ``dvc_file`` tracks from ``remote`` into the workspace; False when it already
    matched. An existing, different copy is replaced only with ``force``."""
    repo_root = Path(repo_root)
    if not (repo_root / dvc_file).is_file():
        raise DataError(f"{repo_root / dvc_file} does not exist")
    differs = tracked_status(repo_root, dvc_file)
    if not differs:
        return False
    base = (repo_root / dvc_file).parent
    out = ", ".join(str(base / path) for path in differs)
    modified = [str(base / path) for path, state in differs.items() if state != "deleted"]
    if modified and not force:
        raise DataError(
            f"{', '.join(modified)} differs from {dvc_file}; pass --force to replace it with "
            "the remote's copy"
        )
    if urlsplit(remote.url).scheme == "s3":
        check_s3_remote(remote, attempts=attempts)
    code, said = run_dvc(repo_root, "fetch", "--remote", remote.name, dvc_file)
    if code != 0:
        raise RemoteError(
            f"`dvc fetch` from {remote.describe()} failed (exit {code}); {out} was not changed. "
            f"DVC said:\n{said}"
        )
    checkout = ["checkout", *(["--force"] if force else []), dvc_file]
    code, said = run_dvc(repo_root, *checkout)
    if code != 0:
        raise RemoteError(f"`dvc {' '.join(checkout)}` failed:\n{said}")
    return True
