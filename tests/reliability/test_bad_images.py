"""Images that are not images, and decompression bombs, as a hostile user would hand them over.

Every case ends with exit status 2 and an ``error:`` line naming the file; none with a Pillow
traceback. ``--on-error skip`` skips a bomb like any unreadable image and says so.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from gms_models.image_io import load_rgb


@pytest.fixture(scope="module")
def bomb_png() -> bytes:
    """A 20000×20000 black 1-bit PNG: about 50 KB on disk, 400 megapixels decoded.

    Written chunk by chunk (Pillow would first hold the 50 MB image to encode it).
    """
    side = 20000

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = (b"\x00" + bytes(side // 8)) * side  # filter byte 0 + one bit per pixel
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(rows, 9)),
            chunk(b"IEND", b""),
        )
    )


def _evaluate_malsd(root: Path, teacher: Path, out: Path) -> list[str]:
    # Data is checked before any model is built, so the student checkpoint is never opened.
    return [
        "evaluate",
        "--teacher",
        str(teacher),
        "--arch",
        "vit_t",
        "--student",
        str(teacher),
        "--malsd",
        str(root),
        "--out",
        str(out),
        "--no-progress",
    ]


def test_malsd_test_file_that_is_not_an_image(
    gms, demo: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    bad = demo / "malsd" / "test" / "Act0" / "act0_0000.jpg"
    bad.write_text("x\n")

    code, output = gms(*_evaluate_malsd(demo / "malsd", teacher_ckpt, tmp_path / "eval"))
    assert code == 2, output
    assert "error:" in output and str(bad) in output
    assert "Traceback" not in output and "UnidentifiedImageError" not in output

    code, output = gms("data", "check", "--layout", "malsd", demo / "malsd")
    assert code == 2, output
    assert "error:" in output and str(bad) in output
    assert "Traceback" not in output


def test_bomb_is_refused_by_the_reader_naming_the_file(tmp_path: Path, bomb_png: bytes) -> None:
    from gms_models.errors import ImageError

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png)
    with pytest.raises(ImageError, match=r"bomb\.png") as refused:
        load_rgb(bomb)
    assert str(Image.MAX_IMAGE_PIXELS) in str(refused.value)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_between_one_and_two_limits_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow only warns between MAX_IMAGE_PIXELS and twice that; the one limit is an error."""
    from gms_models.errors import ImageError

    image = tmp_path / "big.png"
    Image.new("RGB", (40, 30)).save(image)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1200 pixels: over 1x, under 2x
    with pytest.raises(ImageError, match=r"big\.png"):
        load_rgb(image)


def test_bomb_in_data_check(gms, demo: Path, bomb_png: bytes) -> None:
    bomb = demo / "unlabeled" / "scenes" / "huge.png"
    bomb.write_bytes(bomb_png)
    code, output = gms("data", "check", demo / "unlabeled")
    assert code == 2, output
    assert str(bomb) in output and "error:" in output
    assert "DecompressionBombError" not in output and "Traceback" not in output


@pytest.mark.slow
def test_bomb_in_a_distillation_folder(
    gms, distill_args, demo: Path, tmp_path: Path, bomb_png: bytes
) -> None:
    images = demo / "unlabeled"
    bomb = images / "line" / "a_huge.png"  # first in folder order: met in the first batch
    bomb.write_bytes(bomb_png)

    code, output = gms(*distill_args(images, tmp_path / "fail"))
    assert code == 2, output
    assert "error:" in output and str(bomb) in output
    assert "DecompressionBombError" not in output and "Traceback" not in output

    code, output = gms(*distill_args(images, tmp_path / "skip", "--on-error", "skip"))
    assert code == 0, output
    assert "skipped 1 unreadable images" in output and str(bomb) in output
    assert (tmp_path / "skip" / "student.pt").is_file()
