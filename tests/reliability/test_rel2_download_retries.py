"""Issue 17, item 12: permanent download errors fail at once, transient ones are retried, and the
message counts the requests truthfully, in the library and in the Prefect task around it.

A loopback HTTP server counts every request: ``/missing`` answers 404, ``/flaky`` answers 503
``failures`` times and then the payload, ``/down`` always 503.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from gms_models.download import download_file
from gms_models.errors import CheckpointError, DownloadError, is_transient

PAYLOAD = b"gms" * 1000


class _Handler(BaseHTTPRequestHandler):
    failures: ClassVar[int] = 1
    requests: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        flaky = self.path == "/flaky" and type(self).failures > 0
        if flaky:
            type(self).failures -= 1
        if self.path == "/down" or flaky:
            self.send_error(503)
        elif self.path == "/missing":
            self.send_error(404)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.failures = 1
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_404_is_requested_once_and_said_to_be_permanent(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        download_file(f"{server}/missing", tmp_path / "x", progress=False, backoff=0.01)
    assert _Handler.requests == ["/missing"]
    message = str(caught.value)
    assert f"{server}/missing" in message and "HTTP 404" in message
    assert "not retried" in message and "attempts" not in message
    assert not caught.value.transient and not is_transient(caught.value)


def test_a_503_then_200_takes_two_requests_and_succeeds(server: str, tmp_path: Path) -> None:
    dest = download_file(f"{server}/flaky", tmp_path / "x", progress=False, backoff=0.01)
    assert dest.read_bytes() == PAYLOAD
    assert _Handler.requests == ["/flaky", "/flaky"]


def test_a_server_that_stays_down_is_tried_retries_plus_one_times(
    server: str, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError, match=r"after 3 attempts: HTTP 503") as caught:
        download_file(f"{server}/down", tmp_path / "x", retries=2, progress=False, backoff=0.01)
    assert _Handler.requests == ["/down"] * 3
    assert caught.value.transient and is_transient(caught.value)


def test_a_checksum_mismatch_is_requested_once(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="sha256 mismatch") as caught:
        download_file(f"{server}/blob", tmp_path / "x", sha256="0" * 64, progress=False)
    assert _Handler.requests == ["/blob"]
    assert not is_transient(caught.value)


def test_a_refused_connection_is_transient(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="after 2 attempts") as caught:
        download_file(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=1, progress=False)
    assert is_transient(caught.value)


def test_the_prefect_retry_condition_follows_the_same_rule() -> None:
    from prefect.states import Failed

    from tasks.teacher import prepare_teacher, retry_if_transient

    assert prepare_teacher.retry_condition_fn is retry_if_transient
    permanent = [
        DownloadError("x: HTTP 404 Not Found"),
        CheckpointError("sha256 mismatch for checkpoint x"),
        OSError(28, "No space left on device"),
    ]
    transient = [DownloadError("x after 4 attempts", transient=True), TimeoutError("timed out")]
    for exc in permanent:
        assert not retry_if_transient(prepare_teacher, None, Failed(data=exc)), exc  # type: ignore[arg-type]
    for exc in transient:
        assert retry_if_transient(prepare_teacher, None, Failed(data=exc)), exc  # type: ignore[arg-type]


def _prepare_teacher_in_a_flow(url: str, runs_dir: Path) -> Exception:
    from prefect import flow

    from tasks.specs import TeacherSource
    from tasks.teacher import prepare_teacher

    @flow
    def fetch_teacher() -> None:
        prepare_teacher(TeacherSource(checkpoint=url), runs_dir)

    with pytest.raises(Exception) as caught:
        fetch_teacher()
    return caught.value


@pytest.mark.slow
def test_the_teacher_task_runs_a_404_once_and_retries_a_server_error(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.testing.utilities import prefect_test_harness

    monkeypatch.setenv("GMS_CACHE", str(tmp_path / "cache"))
    with prefect_test_harness(server_startup_timeout=180):
        error = _prepare_teacher_in_a_flow(f"{server}/missing", tmp_path / "runs")
        assert isinstance(error, DownloadError) and "not retried" in str(error)
        assert _Handler.requests == ["/missing"]

        _Handler.requests = []
        error = _prepare_teacher_in_a_flow(f"{server}/down", tmp_path / "runs")
        # 1 + 2 Prefect task retries, each a download of 1 + 3 library retries
        assert isinstance(error, DownloadError) and "after 4 attempts" in str(error)
        assert _Handler.requests == ["/down"] * 12
