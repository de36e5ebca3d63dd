"""Checkpoints from a path or a URL (loopback HTTP server, sha256, cache) and strict loading."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from torch import nn

from gms_models.checkpoint import (
    cached_path_for,
    checkpoint_cache_dir,
    compare_state_dicts,
    load_checkpoint_state,
    load_state_dict_checked,
)
from gms_models.errors import CheckpointError, DownloadError
from gms_models.sam import build_sam_vit_t

# sha256 of shared/reference/mobile_sam/mobile_sam_random_seed0.pt (reference README).
REFERENCE_SHA256 = "240dd6e9450480f6e2fef4a344e221f542b30e804742ca5650f54f5796d0e709"


class _CountingHandler(SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder) of an HTTP server on 127.0.0.1 serving that folder."""
    folder = tmp_path / "www"
    folder.mkdir()
    _CountingHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_CountingHandler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


def _small_state() -> dict[str, torch.Tensor]:
    return {"layer.weight": torch.arange(6.0).reshape(2, 3), "layer.bias": torch.ones(2)}


def _save(state: object, path: Path) -> str:
    torch.save(state, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_url_is_downloaded_once_then_served_from_cache(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = served
    sha = _save(_small_state(), folder / "small.pt")
    cache = tmp_path / "cache"
    url = f"{base}/small.pt"
    state = load_checkpoint_state(url, sha256=sha, cache_dir=cache)
    assert torch.equal(state["layer.weight"], _small_state()["layer.weight"])
    assert cached_path_for(url, cache).is_file()
    assert _CountingHandler.requests == ["/small.pt"]
    load_checkpoint_state(url, sha256=sha.upper(), cache_dir=cache)
    assert _CountingHandler.requests == ["/small.pt"]  # no network the second time


def test_sha256_mismatch_deletes_the_download(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    actual = _save(_small_state(), folder / "small.pt")
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_state(f"{base}/small.pt", sha256=wrong, cache_dir=cache)
    assert f"expected {wrong}" in str(err.value) and f"got {actual}" in str(err.value)
    assert list(cache.iterdir()) == []  # neither the file nor a partial download is kept


def test_corrupt_cache_entry_is_fetched_again(served: tuple[str, Path], tmp_path: Path) -> None:
    base, folder = served
    sha = _save(_small_state(), folder / "small.pt")
    cache = tmp_path / "cache"
    url = f"{base}/small.pt"
    cached = cached_path_for(url, cache)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    state = load_checkpoint_state(url, sha256=sha, cache_dir=cache)
    assert state.keys() == _small_state().keys()
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == sha


def test_cache_folder_follows_gms_cache(
    served: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, folder = served
    _save(_small_state(), folder / "small.pt")
    monkeypatch.setenv("GMS_CACHE", str(tmp_path / "gms"))
    assert checkpoint_cache_dir() == tmp_path / "gms" / "checkpoints"
    load_checkpoint_state(f"{base}/small.pt")
    assert len(list((tmp_path / "gms" / "checkpoints").iterdir())) == 1


def test_missing_url_is_a_download_error(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    with pytest.raises(DownloadError, match=r"absent\.pt"):
        load_checkpoint_state(f"{base}/absent.pt", cache_dir=tmp_path)


def test_reference_checkpoint_over_http_loads_strictly(
    served: tuple[str, Path], teacher_ckpt: Path, tmp_path: Path
) -> None:
    base, folder = served
    shutil.copy(teacher_ckpt, folder / "mobile_sam.pt")
    sam = build_sam_vit_t(checkpoint=f"{base}/mobile_sam.pt", sha256=REFERENCE_SHA256)
    reference = torch.load(teacher_ckpt, weights_only=True)
    assert all(torch.equal(sam.state_dict()[k], v) for k, v in reference.items())


def test_local_file_with_wrong_sha256_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "mine.pt"
    actual = _save(_small_state(), path)
    with pytest.raises(CheckpointError, match=f"expected {'a' * 64}, got {actual}"):
        load_checkpoint_state(path, sha256="a" * 64)
    assert path.is_file()
    assert load_checkpoint_state(path, sha256=actual).keys() == _small_state().keys()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint not found: .*nope\.pt"):
        load_checkpoint_state(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a torch file", "cannot read checkpoint"),
        ([torch.zeros(2)], "does not hold a state dict"),
        ({"weight": torch.zeros(2), "epoch": 3}, "1 entries are not named tensors"),
    ],
)
def test_unreadable_or_foreign_files(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint_state(path)


def test_training_checkpoint_wrapper_is_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "train.pt"
    torch.save({"model": _small_state(), "optimizer": {"step": 3}}, path)
    assert load_checkpoint_state(path).keys() == _small_state().keys()


def test_strict_loader_lists_missing_unexpected_and_mis_shaped() -> None:
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(8)])
    state = model.state_dict()
    for i in range(7):
        del state[f"{i}.weight"]
    state["extra.weight"] = torch.zeros(1)
    state["7.bias"] = torch.zeros(3)
    mismatch = compare_state_dicts(model.state_dict(), state)
    assert len(mismatch.missing) == 7 and mismatch.unexpected == ["extra.weight"]
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(model, state, source="checkpoint x.pt")
    message = str(err.value)
    assert message.startswith("checkpoint x.pt does not match Sequential: ")
    assert (
        "7 missing keys: 0.weight, 1.weight, 2.weight, 3.weight, 4.weight, ... (2 more)" in message
    )
    assert "1 unexpected key: extra.weight" in message
    assert "1 mis-shaped key: 7.bias (checkpoint [3] vs model [2])" in message
    # Non-strict loading tolerates missing/unexpected keys, never a wrong shape.
    with pytest.raises(CheckpointError, match="mis-shaped") as err:
        load_state_dict_checked(model, state, strict=False)
    assert "missing" not in str(err.value)
    state["7.bias"] = torch.full((2,), 5.0)
    load_state_dict_checked(model, state, strict=False)
    assert torch.equal(model[7].bias, torch.full((2,), 5.0))
