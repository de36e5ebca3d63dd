"""check_dataset: layout detection and a full report of missing, bad and changed files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from gms_models.data.check import check_dataset, coco_image_dir, detect_layout
from gms_models.errors import DataError


@pytest.fixture
def demo_copy(demo_small: Path, tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(demo_small, root)
    return root


def test_layouts_are_detected(demo_small: Path, coco_mini: Path) -> None:
    assert detect_layout(demo_small) == "demo"
    assert detect_layout(demo_small / "malsd") == "malsd"
    assert detect_layout(demo_small / "coco") == "coco"
    assert detect_layout(demo_small / "unlabeled") == "images"
    assert detect_layout(coco_mini) == "coco"
    assert coco_image_dir(coco_mini, coco_mini / "annotations/instances_val2017.json") == (
        coco_mini / "val2017"
    )
    tiny = coco_mini / "tiny-coco-train2017"
    assert coco_image_dir(tiny, tiny / "annotations/instances_train2017_small.json") == (
        tiny / "train2017"
    )


def test_clean_data_is_ok(demo_small: Path, coco_mini: Path) -> None:
    report = check_dataset(demo_small)
    assert report.ok, (report.problems, report.bad_images)
    assert report.images_checked == 24 + 12 + 48
    coco = check_dataset(coco_mini)
    assert coco.ok and coco.images_checked == 80


def test_every_problem_is_reported_with_its_path(demo_copy: Path) -> None:
    missing = demo_copy / "coco" / "images" / "000000000005.jpg"
    missing.unlink()
    corrupt = demo_copy / "unlabeled" / "scenes" / "scene_0001.jpg"
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    gray = demo_copy / "malsd" / "test" / "NG" / "ng_0002.jpg"
    Image.open(gray).convert("L").save(gray)
    resized = demo_copy / "coco" / "images" / "000000000002.jpg"
    Image.open(resized).resize((100, 80)).save(resized)

    report = check_dataset(demo_copy)
    assert not report.ok
    assert {b.path for b in report.bad_images} == {corrupt, gray}
    problems = "\n".join(report.problems)
    assert f"missing image named in {demo_copy / 'coco/annotations/instances.json'}" in problems
    assert str(missing) in problems
    assert f"{resized} is 100×80 but instances.json says 320×240" in problems
    assert "missing: coco/images/000000000005.jpg" in problems
    assert "changed: malsd/test/NG/ng_0002.jpg" in problems


def test_malsd_layout_errors_do_not_stop_the_scan(demo_copy: Path) -> None:
    malsd = demo_copy / "malsd"
    shutil.rmtree(malsd / "train" / "NG")
    points = json.loads((malsd / "test_points.json").read_text())
    points["images"][0]["points"] = [[999, 999]]
    (malsd / "test_points.json").write_text(json.dumps(points))
    report = check_dataset(malsd)
    assert report.layout == "malsd"
    assert any(str(malsd / "train" / "NG") in p for p in report.problems)
    assert any("outside" in p for p in report.problems)
    assert report.images_checked == 16 + 16, "the test split is still scanned"


def test_image_folder_and_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    report = check_dataset(tmp_path / "imgs")
    assert report.layout == "images" and not report.ok
    assert "no images" in report.problems[0]
    with pytest.raises(DataError, match="not found"):
        check_dataset(tmp_path / "nowhere")
    with pytest.raises(DataError, match="unknown dataset layout"):
        check_dataset(tmp_path / "imgs", layout="voc")
