"""``test_points.json`` entries as a hostile user writes them: outside the dataset, NaN points.

The reader must refuse each naming the points file and the entry; nothing outside the MALSD
folder is ever opened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from gms_models.data.malsd import POINTS_FILENAME, read_points
from gms_models.errors import DataError


def _set_first_entry(root: Path, **fields: object) -> Path:
    points_file = root / POINTS_FILENAME
    document = json.loads(points_file.read_text())
    document["images"][0].update(fields)
    points_file.write_text(json.dumps(document))  # json writes NaN as the bare literal NaN
    return points_file


@pytest.fixture
def outside_jpeg(tmp_path: Path) -> Path:
    """A real JPEG beside, not inside, the dataset."""
    path = tmp_path / "outside.jpg"
    Image.new("RGB", (200, 200)).save(path)
    return path


@pytest.mark.parametrize("escape", ["relative", "absolute", "passwd"])
def test_entries_outside_the_dataset_are_refused(
    gms, demo: Path, outside_jpeg: Path, teacher_ckpt: Path, escape: str
) -> None:
    root = demo / "malsd"
    file = {
        "relative": "../../outside.jpg",  # resolves to outside_jpeg
        "absolute": str(outside_jpeg),
        "passwd": "/etc/passwd",
    }[escape]
    assert escape == "passwd" or (root / file).resolve() == outside_jpeg.resolve()
    points_file = _set_first_entry(root, file=file)

    with pytest.raises(DataError, match=r"images\.0\.file") as refused:
        read_points(root)
    assert str(points_file) in str(refused.value) and file in str(refused.value)

    code, output = gms("data", "check", "--layout", "malsd", root)
    assert code == 2, output
    assert file in output and "OK" not in output.split("error:")[0].splitlines()[-1]

    code, output = gms(
        "evaluate",
        "--teacher",
        teacher_ckpt,
        "--arch",
        "vit_t",
        "--student",
        teacher_ckpt,  # never opened: the data is checked first
        "--malsd",
        root,
        "--out",
        demo / "eval",
        "--no-progress",
    )
    assert code == 2, output
    assert "error:" in output and file in output and str(points_file) in output


def test_nan_point_is_refused_naming_the_entry(gms, demo: Path) -> None:
    root = demo / "malsd"
    points_file = _set_first_entry(root, points=[[float("nan"), 3.0]])
    code, output = gms("data", "check", "--layout", "malsd", root)
    assert code == 2, output
    assert f"{points_file} is malformed at 'images.0.points.0.0'" in output
    assert "finite number" in output
