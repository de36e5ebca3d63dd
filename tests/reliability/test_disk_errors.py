"""A full disk or a read-only folder ends in ``error:`` naming the file and the reason, exit 2.

The disk-full case is a real ENOSPC from the kernel: the checkpoint's temporary file is opened on
``/dev/full``, so torch's writer, the atomic rename and the CLI run exactly as on a full disk.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

import gms_models.files


@pytest.fixture
def full_disk_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporary files of ``*.pt`` checkpoints are written to ``/dev/full`` (ENOSPC on write)."""
    real_open = open

    def open_on_full_disk(file: object, mode: str = "r", *args: object, **kwargs: object) -> IO:
        if "w" in str(mode) and str(file).endswith(".tmp") and ".pt." in Path(str(file)).name:
            return real_open("/dev/full", mode, *args, **kwargs)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(gms_models.files, "open", open_on_full_disk, raising=False)


@pytest.mark.usefixtures("full_disk_checkpoints")
@pytest.mark.slow
def test_disk_full_while_saving_a_checkpoint(gms, distill_args, demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, output = gms(*distill_args(demo / "unlabeled", out))
    assert code == 2, output
    assert f"error: {out / 'last.pt'}: No space left on device (ENOSPC)" in output
    assert "unexpected pos" not in output and "Traceback" not in output
    assert not list(out.glob(".*.tmp")), "the temporary checkpoint was left behind"


@pytest.mark.usefixtures("full_disk_checkpoints")
def test_disk_full_names_the_checkpoint_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    import torch

    from gms_models.checkpoint import save_checkpoint

    dest = tmp_path / "last.pt"
    with pytest.raises(OSError, match="No space left on device") as failed:
        save_checkpoint(dest, {"weights": torch.zeros(1000)})
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(dest)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write in: mode 0555, or a read-only tmpfs where we are root."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"root, but cannot mount a read-only tmpfs: {mounted.stderr.decode()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_export_into_a_read_only_folder(gms, read_only_dir: Path, tmp_path: Path) -> None:
    from gms_models.checkpoint import save_student
    from gms_models.registry import build_encoder

    student = tmp_path / "student.pt"
    model = build_encoder("resnet18", img_size=64)
    save_student(student, arch="resnet18", img_size=64, state_dict=model.state_dict(), config={})
    out = read_only_dir / "export"
    code, output = gms("export", "--arch", "resnet18", "--student", student, "--out", out)
    assert code == 2, output
    assert f"error: {out}: " in output
    assert ("Read-only file system" in output) or ("Permission denied" in output)
    assert "Traceback" not in output
