"""Folders built beside their destination and renamed into place get the user's umask.

``tempfile.mkdtemp`` creates mode 0700 folders; renamed into place they became export, import
and demo folders that nobody else in the group could read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_027")
def test_demo_folder_is_not_private(gms, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    code, output = gms("data", "demo", "--out", out, "--scale", "tiny")
    assert code == 0, output
    assert _mode(out) == 0o750


@pytest.mark.usefixtures("umask_027")
def test_import_folder_is_not_private(tmp_path: Path) -> None:
    from gms_models.files import staged_folder

    dest = tmp_path / "data"
    with staged_folder(dest) as staging:
        (staging / "coco").mkdir()
    assert _mode(dest) == 0o750


@pytest.mark.slow
@pytest.mark.usefixtures("umask_027")
def test_export_folder_is_not_private(gms, tmp_path: Path) -> None:
    from gms_models.checkpoint import save_student
    from gms_models.registry import build_encoder

    model = build_encoder("resnet18", img_size=64)
    student = tmp_path / "student.pt"
    save_student(student, arch="resnet18", img_size=64, state_dict=model.state_dict(), config={})
    torch.manual_seed(0)
    out = tmp_path / "export"
    code, output = gms("export", "--arch", "resnet18", "--student", student, "--out", out)
    assert code == 0, output
    assert _mode(out) == 0o750
