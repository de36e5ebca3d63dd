"""COCO instances reader: per-image records, boxes, masks, crowd flags, area bins, bad input."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from gms_models.data.coco import (
    LARGE_MIN_AREA,
    MEDIUM_MIN_AREA,
    CocoInstances,
    area_bin,
    coco_image_entries,
)
from gms_models.data.demo import demo_paths
from gms_models.errors import DataError


@pytest.fixture(scope="module")
def val_mini(coco_mini: Path) -> CocoInstances:
    return CocoInstances(
        coco_mini / "annotations" / "instances_val2017.json", coco_mini / "val2017"
    )


def test_area_bin_edges() -> None:
    assert (MEDIUM_MIN_AREA, LARGE_MIN_AREA) == (1024, 9216)
    assert area_bin(0) == "small"
    assert area_bin(1023.999) == "small"
    assert area_bin(1024) == "medium"
    assert area_bin(9215.999) == "medium"
    assert area_bin(9216) == "large"
    assert area_bin(1e9) == "large"
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            area_bin(bad)


def test_coco_mini_counts_match_its_readme(val_mini: CocoInstances) -> None:
    assert len(val_mini) == 80
    assert val_mini.num_annotations == 815
    anns = [a for image in val_mini for a in image.annotations]
    assert len(anns) == 815
    assert Counter(a.area_bin for a in anns) == {"small": 340, "medium": 299, "large": 176}
    assert sum(a.iscrowd for a in anns) == 11


def test_records_match_an_independent_read_of_the_json(
    val_mini: CocoInstances, coco_mini: Path
) -> None:
    raw = json.loads((coco_mini / "annotations" / "instances_val2017.json").read_text())
    raw_anns = {a["id"]: a for a in raw["annotations"]}
    raw_images = {i["id"]: i for i in raw["images"]}
    categories = {c["id"]: c["name"] for c in raw["categories"]}
    assert val_mini.image_ids == sorted(raw_images)
    crowd_checked = 0
    for image in val_mini:
        info = raw_images[image.id]
        assert image.path == coco_mini / "val2017" / info["file_name"]
        assert (image.width, image.height) == (info["width"], info["height"])
        expected_ids = sorted(a["id"] for a in raw["annotations"] if a["image_id"] == image.id)
        assert [a.id for a in image.annotations] == expected_ids
        for ann in image.annotations:
            src = raw_anns[ann.id]
            x, y, w, h = src["bbox"]
            assert ann.box_xyxy == pytest.approx((x, y, x + w, y + h))
            assert ann.area == src["area"]
            assert ann.iscrowd == bool(src["iscrowd"])
            assert ann.category_name == categories[src["category_id"]]
            assert ann.mask.dtype == bool and ann.mask.shape == (image.height, image.width)
            segm = src["segmentation"]
            if isinstance(segm, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(segm, image.height, image.width))
            else:
                rle = mask_utils.frPyObjects(segm, image.height, image.width)
                crowd_checked += 1
            np.testing.assert_array_equal(ann.mask, mask_utils.decode(rle).astype(bool))
    assert crowd_checked == 11


def test_image_loads_at_the_json_size(val_mini: CocoInstances) -> None:
    image = val_mini[0]
    rgb = image.load()
    assert rgb.shape == (image.height, image.width, 3) and rgb.dtype == np.uint8


def test_selection_options(val_mini: CocoInstances, coco_mini: Path) -> None:
    ann_file = coco_mini / "annotations" / "instances_val2017.json"
    wanted = val_mini.image_ids[5:8][::-1]
    subset = CocoInstances(ann_file, coco_mini / "val2017", image_ids=wanted)
    assert [image.id for image in subset] == wanted
    first = CocoInstances(ann_file, coco_mini / "val2017", max_images=3)
    assert first.image_ids == val_mini.image_ids[:3]
    with pytest.raises(DataError, match="123456789"):
        CocoInstances(ann_file, coco_mini / "val2017", image_ids=[123456789])


def test_tiny_train_split_and_demo_data_load(coco_mini: Path, demo_small: Path) -> None:
    tiny = coco_mini / "tiny-coco-train2017"
    train = CocoInstances(
        tiny / "annotations" / "instances_train2017_small.json", tiny / "train2017"
    )
    assert (len(train), train.num_annotations) == (16, 197)
    paths = demo_paths(demo_small)
    demo = CocoInstances(paths["coco_annotations"], paths["coco_images"])
    crowd = [a for image in demo for a in image.annotations if a.iscrowd]
    assert crowd and all(a.mask.sum() == a.area for a in crowd)


def test_empty_images_are_skipped_unless_asked(tmp_path: Path, demo_small: Path) -> None:
    paths = demo_paths(demo_small)
    raw = json.loads(paths["coco_annotations"].read_text())
    raw["annotations"] = [a for a in raw["annotations"] if a["image_id"] != 1]
    ann_file = tmp_path / "instances.json"
    ann_file.write_text(json.dumps(raw))
    assert 1 not in CocoInstances(ann_file, paths["coco_images"]).image_ids
    with_empty = CocoInstances(ann_file, paths["coco_images"], include_empty=True)
    assert with_empty.image_ids[0] == 1 and with_empty[0].annotations == ()


def _copy_demo_coco(demo_small: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "coco"
    shutil.copytree(demo_small / "coco", root)
    return root / "annotations" / "instances.json", root / "images"


def test_missing_images_are_listed_up_front(demo_small: Path, tmp_path: Path) -> None:
    ann_file, images = _copy_demo_coco(demo_small, tmp_path)
    for name in ("000000000003.jpg", "000000000007.jpg"):
        (images / name).unlink()
    with pytest.raises(DataError) as info:
        CocoInstances(ann_file, images)
    message = str(info.value)
    assert "2 of 24 images" in message
    assert str(images / "000000000003.jpg") in message
    assert str(images / "000000000007.jpg") in message


def test_malformed_annotation_files(demo_small: Path, tmp_path: Path) -> None:
    ann_file, images = _copy_demo_coco(demo_small, tmp_path)
    with pytest.raises(DataError, match="not found"):
        CocoInstances(tmp_path / "nope.json", images)
    ann_file.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        CocoInstances(ann_file, images)
    ann_file.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(DataError, match="'annotations'"):
        CocoInstances(ann_file, images)
    raw = json.loads((demo_small / "coco" / "annotations" / "instances.json").read_text())
    raw["annotations"][0]["image_id"] = 999
    ann_file.write_text(json.dumps(raw))
    with pytest.raises(DataError, match="image id 999"):
        CocoInstances(ann_file, images)
    del raw["annotations"][0]["bbox"]
    ann_file.write_text(json.dumps(raw))
    with pytest.raises(DataError, match="bbox"):
        CocoInstances(ann_file, images)


def test_image_of_another_size_than_the_json_says(demo_small: Path, tmp_path: Path) -> None:
    ann_file, images = _copy_demo_coco(demo_small, tmp_path)
    Image.new("RGB", (100, 50)).save(images / "000000000001.jpg")
    dataset = CocoInstances(ann_file, images)
    with pytest.raises(DataError, match=r"100×50 .* says 320×240"):
        dataset[0].load()


def test_image_entries_list_every_named_file(coco_mini: Path) -> None:
    entries = coco_image_entries(
        coco_mini / "annotations" / "instances_val2017.json", coco_mini / "val2017"
    )
    assert len(entries) == 80 and all(e.path.is_file() for e in entries)
