"""Fixtures for the COCO import tests: zips built from coco-mini, served over loopback HTTP.

The server honours ``Range: bytes=N-`` requests and can drop a connection part-way through a
file once, so resuming is tested against real sockets.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gms_models.fetch.coco import CocoArchive, CocoManifest

ARCHIVE_PATHS = {
    "train2017": "zips/train2017.zip",
    "val2017": "zips/val2017.zip",
    "annotations": "annotations/annotations_trainval2017.zip",
}


def _zip(entries: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, src in entries.items():
            method = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            zf.write(src, name, compress_type=method)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def coco_zips(coco_mini: Path) -> dict[str, bytes]:
    """The three release zips in the official layout, keyed by manifest field."""
    train_dir = coco_mini / "tiny-coco-train2017"
    return {
        "train2017": _zip(
            {f"train2017/{p.name}": p for p in sorted((train_dir / "train2017").glob("*.jpg"))}
        ),
        "val2017": _zip(
            {f"val2017/{p.name}": p for p in sorted((coco_mini / "val2017").iterdir())}
        ),
        "annotations": _zip(
            {
                "annotations/instances_train2017.json": train_dir
                / "annotations"
                / "instances_train2017_small.json",
                "annotations/instances_val2017.json": coco_mini
                / "annotations"
                / "instances_val2017.json",
            }
        ),
    }


def manifest_for(zips: dict[str, bytes], base_url: str, checksum: str = "sha256") -> CocoManifest:
    """A manifest of ``zips`` that verifies them by ``checksum`` (sha256 or md5) and size."""
    archives = {
        key: CocoArchive(
            path=ARCHIVE_PATHS[key],
            size=len(data),
            **{checksum: hashlib.new(checksum, data).hexdigest()},
        )
        for key, data in zips.items()
    }
    return CocoManifest(base_url=base_url, **archives)


@pytest.fixture(scope="session")
def make_manifest() -> Callable[..., CocoManifest]:
    """``make_manifest(zips, base_url, checksum="sha256")``: see :func:`manifest_for`."""
    return manifest_for


@dataclass
class ZipServer:
    """Serves ``files`` (URL path -> bytes); records each request's path and Range header."""

    files: dict[str, bytes]
    cut_once: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    base_url: str = ""


def _handler_for(state: ZipServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
            if start >= len(data):
                self.send_error(416)
                return
            body = data[start:]
            self.send_response(206 if rng else 200)
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.cut_once.pop(self.path, None)
            if cut is not None:
                body = body[:cut]
            self.wfile.write(body)
            state.sent[self.path] = state.sent.get(self.path, 0) + len(body)
            if cut is not None:
                self.wfile.flush()
                self.connection.shutdown(2)

    return Handler


@pytest.fixture
def zip_server(coco_zips: dict[str, bytes]) -> Iterator[ZipServer]:
    """A loopback HTTP server holding the coco-mini zips at their official paths."""
    state = ZipServer(files={f"/{ARCHIVE_PATHS[k]}": v for k, v in coco_zips.items()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
