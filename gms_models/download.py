"""Resumable, sha256-checked downloads: ``DEST.part`` becomes ``DEST`` once verified."""

from __future__ import annotations

import http.client
import itertools
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from gms_models.errors import DownloadError, is_transient
from gms_models.files import sha256_file

_CHUNK = 1 << 20


def _fetch_into(url: str, part: Path, timeout: float, progress: Progress) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is already whole
            return
        raise
    with response:
        if have and response.status != 206:  # server ignored Range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        task = progress.add_task(Path(url).name or url, total=total, completed=have)
        with open(part, "ab" if have else "wb") as out:
            while block := response.read(_CHUNK):
                out.write(block)
                progress.advance(task, len(block))
        if total is not None and part.stat().st_size < total:
            raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")


def _download_error(
    url: str, part: Path, exc: Exception, attempts: int, *, transient: bool
) -> DownloadError:
    reason = f"HTTP {exc.code} {exc.reason}" if isinstance(exc, urllib.error.HTTPError) else exc
    if transient:
        tries = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
        kept = f" (partial file kept for resuming: {part})" if part.exists() else ""
        return DownloadError(f"could not download {url} {tries}: {reason}{kept}", transient=True)
    return DownloadError(f"could not download {url}: {reason} (a permanent error, not retried)")


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    retries: int = 3,
    progress: bool = True,
    timeout: float = 30.0,
    backoff: float = 0.5,
) -> Path:
    """``url`` into ``dest`` unless a match is there; transient errors are retried with backoff."""
    dest = Path(dest)
    if dest.exists() and sha256 is not None and sha256_file(dest) == sha256.lower():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
        disable=not progress,
    )
    for attempt in itertools.count(1):
        try:
            with bar:
                _fetch_into(url, part, timeout, bar)
            break
        except (OSError, http.client.HTTPException) as exc:  # urllib's and the socket's errors
            transient = is_transient(exc)
            if transient and attempt <= retries:
                time.sleep(backoff * 2 ** (attempt - 1))
                continue
            raise _download_error(url, part, exc, attempt, transient=transient) from exc
    if sha256 is not None and (actual := sha256_file(part)) != sha256.lower():
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"sha256 mismatch for {url}: expected {sha256.lower()}, got {actual}; "
            "the downloaded file was deleted"
        )
    os.replace(part, dest)
    return dest
