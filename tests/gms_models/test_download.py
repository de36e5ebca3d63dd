"""download_file against a real HTTP server on 127.0.0.1 (Range support, dropped connections)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from gms_models.download import download_file
from gms_models.errors import DownloadError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(BaseHTTPRequestHandler):
    cut_after: int | None = None  # drop the connection after this many bytes, once
    requests: ClassVar[list[str | None]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/blob.bin":
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None:
            type(self).cut_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.cut_after = None
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_places_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "blob.bin"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert download_file(f"{server}/blob.bin", dest, sha256=sha, progress=False) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("blob.bin.part").exists()
    # A second call with the right hash does not touch the network.
    n = len(_Handler.requests)
    download_file(f"{server}/blob.bin", dest, sha256=sha, progress=False)
    assert len(_Handler.requests) == n


def test_dropped_connection_resumes_with_range(server: str, tmp_path: Path) -> None:
    _Handler.cut_after = 300_000
    dest = tmp_path / "blob.bin"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    download_file(f"{server}/blob.bin", dest, sha256=sha, progress=False, backoff=0.01)
    assert dest.read_bytes() == PAYLOAD
    assert _Handler.requests == [None, "bytes=300000-"]


def test_checksum_mismatch_deletes_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        download_file(f"{server}/blob.bin", dest, sha256="0" * 64, progress=False)
    assert hashlib.sha256(PAYLOAD).hexdigest() in str(info.value)
    assert not dest.exists()
    assert not dest.with_name("blob.bin.part").exists()


def test_missing_file_is_not_retried(server: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        download_file(f"{server}/nope.bin", tmp_path / "x", progress=False, backoff=0.01)
    assert _Handler.requests == []


def test_unreachable_host_fails_after_bounded_retries(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="after 3 attempt"):
        download_file(
            f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=2, progress=False, backoff=0.01
        )
