"""import_malsd: copies a MALSD folder after checking its train|test/Act0|NG layout."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest
from PIL import Image

from gms_models.data.malsd import check_malsd_layout, import_malsd
from gms_models.errors import DataError

COUNTS = {"train": {"Act0": 3, "NG": 2}, "test": {"Act0": 1, "NG": 2}}


def _make_malsd(root: Path) -> Path:
    for split, classes in COUNTS.items():
        for label, n in classes.items():
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (8, 6), (i * 40, 80, 120)).save(folder / f"{label}_{i}.png")
    (root / "test" / "points.json").write_text('{"NG_0.png": [4, 3]}')
    return root


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_import_copies_the_whole_tree(tmp_path: Path) -> None:
    src = _make_malsd(tmp_path / "src")
    dest = tmp_path / "data" / "malsd"
    assert import_malsd(src, dest) == COUNTS
    assert _same_tree(src, dest)
    assert check_malsd_layout(dest) == COUNTS
    assert sorted(p.name for p in dest.parent.iterdir()) == ["malsd"]


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda root: shutil.rmtree(root / "test" / "NG"), r"class folder missing: \S*test/NG"),
        (
            lambda root: [p.unlink() for p in (root / "train" / "Act0").iterdir()],
            r"class folder has no images \(\.jpg/\.jpeg/\.png/\.bmp/\S*\): \S*train/Act0",
        ),
    ],
    ids=["missing-class-folder", "empty-class-folder"],
)
def test_bad_layout_is_refused_and_nothing_is_written(tmp_path: Path, damage, named: str) -> None:
    src = _make_malsd(tmp_path / "src")
    damage(src)
    data = tmp_path / "data"
    with pytest.raises(DataError, match=named):
        import_malsd(src, data / "malsd")
    assert not data.exists()


def test_bmp_images_count(tmp_path: Path) -> None:
    src = _make_malsd(tmp_path / "src")
    for png in (src / "train" / "NG").iterdir():
        Image.open(png).save(png.with_suffix(".bmp"))
        png.unlink()
    assert import_malsd(src, tmp_path / "malsd") == COUNTS


def test_existing_destination_needs_overwrite(tmp_path: Path) -> None:
    src = _make_malsd(tmp_path / "src")
    dest = tmp_path / "malsd"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(DataError, match="already exists"):
        import_malsd(src, dest)
    import_malsd(src, dest, overwrite=True)
    assert _same_tree(src, dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["malsd", "src"]
