"""A checkpoint fetched over plain http without a sha256 is said to be unverified."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from gms_models.checkpoint import fetch_checkpoint
from gms_models.download import sha256_file


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def checkpoint_url(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "served"
    folder.mkdir()
    torch.save({"w": torch.zeros(2)}, folder / "model.pt")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/model.pt"
    httpd.shutdown()
    httpd.server_close()


def test_plain_http_without_sha256_warns(
    checkpoint_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gms_models.checkpoint"):
        path = fetch_checkpoint(checkpoint_url, cache_dir=tmp_path / "cache", progress=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert checkpoint_url in warnings[0] and "sha256" in warnings[0]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gms_models.checkpoint"):
        fetch_checkpoint(
            checkpoint_url, sha256=sha256_file(path), cache_dir=tmp_path / "cache", progress=False
        )
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
