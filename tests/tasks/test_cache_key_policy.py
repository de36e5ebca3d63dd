"""The cache key: git commit + a hash of uncommitted library changes + data content + params."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tasks.caching import (
    CodeVersion,
    StepOutputs,
    code_version,
    fingerprint_folder,
    read_outputs,
    step_dir,
    step_key,
    write_outputs,
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "gms_models").mkdir(parents=True)
    (root / "tasks").mkdir()
    (root / "gms_models" / "model.py").write_text("WIDTH = 1\n")
    (root / "tasks" / "step.py").write_text("STEP = 1\n")
    (root / "README.md").write_text("readme\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    return root


def test_clean_checkout_key_is_the_commit(repo: Path) -> None:
    version = code_version(repo)
    assert version.commit == git(repo, "rev-parse", "HEAD")
    assert not version.dirty
    assert version.key == version.commit


def test_library_edits_make_the_key_follow_the_content(repo: Path) -> None:
    model = repo / "gms_models" / "model.py"
    model.write_text("WIDTH = 2\n")
    first = code_version(repo)
    model.write_text("WIDTH = 3\n")
    second = code_version(repo)
    model.write_text("WIDTH = 2\n")
    again = code_version(repo)
    assert first.dirty and second.dirty
    assert first.key.startswith(f"{first.commit}+dirty-")
    assert first.key != second.key
    assert again.key == first.key
    model.write_text("WIDTH = 1\n")
    assert code_version(repo).key == first.commit


def test_untracked_and_deleted_library_files_count(repo: Path) -> None:
    (repo / "tasks" / "new_step.py").write_text("NEW = 1\n")
    untracked = code_version(repo)
    (repo / "tasks" / "new_step.py").unlink()
    (repo / "gms_models" / "model.py").unlink()
    deleted = code_version(repo)
    assert untracked.dirty and deleted.dirty
    assert untracked.key != deleted.key


def test_changes_outside_the_packages_leave_the_key(repo: Path) -> None:
    (repo / "README.md").write_text("edited\n")
    (repo / "notes.txt").write_text("new\n")
    assert code_version(repo).key == git(repo, "rev-parse", "HEAD")


def test_without_git_the_package_sources_are_hashed(repo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "unpacked"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git"))
    before = code_version(copy)
    (copy / "gms_models" / "model.py").write_text("WIDTH = 9\n")
    after = code_version(copy)
    assert before.commit is None and before.source_hash
    assert before.key.startswith("source-")
    assert before.key != after.key


def test_step_key_depends_on_step_params_and_code() -> None:
    code = CodeVersion(commit="abc", dirty_hash=None)
    base = step_key("distill", {"lr": 3e-4, "images": "f00"}, code)
    assert base == step_key("distill", {"images": "f00", "lr": 3e-4}, code)
    assert base != step_key("distill", {"lr": 1e-3, "images": "f00"}, code)
    assert base != step_key("distill", {"lr": 3e-4, "images": "ba2"}, code)
    assert base != step_key("export", {"lr": 3e-4, "images": "f00"}, code)
    assert base != step_key("distill", {"lr": 3e-4, "images": "f00"}, CodeVersion("abc", "d1"))
    folder = step_dir("runs", "distill", "gmf_2282", base)
    assert folder.is_absolute() and folder.name == f"gmf_2282-{base[:16]}"


def test_data_fingerprint_follows_content_not_timestamps(tmp_path: Path) -> None:
    data = tmp_path / "images"
    (data / "sub").mkdir(parents=True)
    (data / "a.jpg").write_bytes(b"aaa")
    (data / "sub" / "b.jpg").write_bytes(b"bbb")
    memo = tmp_path / "memo"
    first = fingerprint_folder(data, memo)
    assert (memo / "file-hashes.json").is_file()
    os.utime(data / "a.jpg", (1_000_000, 1_000_000))
    assert fingerprint_folder(data, memo) == first
    (data / "a.jpg").write_bytes(b"aab")
    changed = fingerprint_folder(data, memo)
    (data / "a.jpg").write_bytes(b"aaa")
    (data / "sub" / "b.jpg").rename(data / "b.jpg")
    moved = fingerprint_folder(data, memo)
    assert len({first, changed, moved}) == 3


class _Outputs(StepOutputs):
    checkpoint: Path
    pictures: list[Path]
    loss: float


def test_a_result_is_reused_only_while_its_files_exist(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    checkpoint, picture = work / "student.pt", work / "epoch_001.png"
    checkpoint.write_bytes(b"w")
    picture.write_bytes(b"p")
    assert read_outputs(work, _Outputs) is None
    write_outputs(work, _Outputs(checkpoint=checkpoint, pictures=[picture], loss=0.5))
    reused = read_outputs(work, _Outputs)
    assert reused is not None and reused.loss == 0.5
    picture.unlink()
    assert read_outputs(work, _Outputs) is None
