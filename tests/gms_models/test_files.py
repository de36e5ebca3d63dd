"""gms_models.files: atomic file and folder writes, stable JSON, sha256, the cache-dir rule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gms_models.errors import DataError
from gms_models.files import (
    atomic_path,
    default_cache_dir,
    dumps_stable,
    read_json,
    sha256_file,
    staged_folder,
    write_json,
)


def test_failed_atomic_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_json_is_byte_stable_and_reads_back(tmp_path: Path) -> None:
    path = write_json(tmp_path / "x.json", {"b": 1, "a": [1.5, None]})
    assert path.read_text() == dumps_stable({"a": [1.5, None], "b": 1})
    assert read_json(path) == {"a": [1.5, None], "b": 1}
    with pytest.raises(ValueError):
        dumps_stable({"nan": float("nan")})


def test_read_json_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"settings file not found: .*missing\.json"):
        read_json(tmp_path / "missing.json", what="settings file")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(DataError, match=r"bad\.json is not valid JSON"):
        read_json(bad)
    bad.write_text("[1]")
    with pytest.raises(DataError, match=r"bad\.json must hold a JSON object"):
        read_json(bad)


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


def test_staged_folder_replaces_the_old_folder_whole(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with staged_folder(dest) as staging:
        (staging / "new.txt").write_text("new")
        assert not (dest / "new.txt").exists()
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_staged_folder_leaves_nothing_behind(tmp_path: Path) -> None:
    dest = tmp_path / "new" / "parents" / "out"
    with pytest.raises(RuntimeError), staged_folder(dest) as staging:
        (staging / "part.txt").write_text("part")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GMS_CACHE", str(tmp_path / "gms"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "gms"
    monkeypatch.delenv("GMS_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "gms"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "gms"
