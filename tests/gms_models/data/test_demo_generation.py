"""The built-in demo dataset: byte-identical per seed, complete in both layouts."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from gms_models.data.coco import AREA_BINS, CocoInstances
from gms_models.data.demo import DEMO_SCALES, DemoScale, demo_paths, generate_demo
from gms_models.data.malsd import MALSD_CLASSES, class_images, read_points
from gms_models.data.manifest import MANIFEST_NAME, read_manifest, verify_manifest
from gms_models.data.scan import list_images
from gms_models.errors import ConfigError, DataError


def tree_digest(root: Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_gives_byte_identical_tree(demo_small: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_demo(again, seed=0, scale="small")
    assert tree_digest(again) == tree_digest(demo_small)


def test_other_seed_changes_every_image(tmp_path: Path) -> None:
    generate_demo(tmp_path / "s0", seed=0, scale="tiny")
    generate_demo(tmp_path / "s1", seed=1, scale="tiny")
    files0 = read_manifest(tmp_path / "s0")["files"]
    files1 = read_manifest(tmp_path / "s1")["files"]
    assert files0.keys() == files1.keys()
    images = [rel for rel in files0 if rel.endswith((".jpg", ".png"))]
    assert images
    assert all(files0[rel]["sha256"] != files1[rel]["sha256"] for rel in images)


def test_an_image_does_not_depend_on_how_many_are_generated(
    demo_small: Path, tmp_path: Path
) -> None:
    generate_demo(tmp_path / "tiny", seed=0, scale="tiny")
    tiny = read_manifest(tmp_path / "tiny")["files"]
    small = read_manifest(demo_small)["files"]
    shared_images = [rel for rel in tiny if rel.endswith((".jpg", ".png"))]
    assert len(shared_images) == 22
    assert all(tiny[rel]["sha256"] == small[rel]["sha256"] for rel in shared_images)


def test_manifest_lists_every_file_and_detects_changes(demo_small: Path, tmp_path: Path) -> None:
    manifest = read_manifest(demo_small)
    on_disk = sorted(
        p.relative_to(demo_small).as_posix() for p in demo_small.rglob("*") if p.is_file()
    )
    assert sorted([*manifest["files"], MANIFEST_NAME]) == on_disk
    assert manifest["seed"] == 0 and manifest["scale"] == "small"
    assert verify_manifest(demo_small) == []

    copy = tmp_path / "copy"
    shutil.copytree(demo_small, copy)
    (copy / "coco" / "images" / "000000000002.jpg").unlink()
    (copy / "malsd" / "test_points.json").write_text("{}\n")
    (copy / "unlabeled" / "extra.jpg").write_bytes(b"x")
    problems = verify_manifest(copy)
    assert "missing: coco/images/000000000002.jpg" in problems
    assert any(p.startswith("changed: malsd/test_points.json") for p in problems)
    assert "not in manifest: unlabeled/extra.jpg" in problems


def test_small_scale_has_the_documented_counts(demo_small: Path) -> None:
    spec = DEMO_SCALES["small"]
    paths = demo_paths(demo_small)
    assert len(list_images(paths["coco_images"])) == spec.coco_images
    unlabeled = list_images(paths["unlabeled"])
    assert len(unlabeled) == spec.unlabeled_images
    assert {p.suffix for p in unlabeled} == {".jpg", ".png"}
    assert {p.parent.name for p in unlabeled} == {"scenes", "line"}
    for split, per_class in (
        ("train", spec.malsd_train_per_class),
        ("test", spec.malsd_test_per_class),
    ):
        found = class_images(paths["malsd"], split)
        assert {name: len(files) for name, files in found.items()} == dict.fromkeys(
            MALSD_CLASSES, per_class
        )


def test_coco_part_has_polygons_multipart_crowd_rle_and_every_size(demo_small: Path) -> None:
    paths = demo_paths(demo_small)
    raw = json.loads(paths["coco_annotations"].read_text())
    anns = raw["annotations"]
    polygons = [a for a in anns if isinstance(a["segmentation"], list)]
    crowd = [a for a in anns if a["iscrowd"]]
    assert polygons and crowd
    assert all(isinstance(a["segmentation"]["counts"], list) for a in crowd)
    assert any(len(a["segmentation"]) > 1 for a in polygons), "hands are multi-part polygons"
    assert all(not isinstance(a["segmentation"], list) for a in crowd)

    dataset = CocoInstances(paths["coco_annotations"], paths["coco_images"])
    bins = Counter(a.area_bin for image in dataset for a in image.annotations)
    assert all(bins[name] >= 5 for name in AREA_BINS), bins
    per_image = [len(image.annotations) for image in dataset]
    assert min(per_image) >= 3


def test_coco_area_and_bbox_fields_agree_with_the_masks(demo_small: Path) -> None:
    paths = demo_paths(demo_small)
    coco = COCO(str(paths["coco_annotations"]))
    for ann in coco.loadAnns(coco.getAnnIds()):
        mask = coco.annToMask(ann)
        assert ann["area"] == float(mask.sum())
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann["bbox"]
        assert (x, y, x + w, y + h) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        if ann["iscrowd"]:
            rle = mask_utils.frPyObjects(ann["segmentation"], *ann["segmentation"]["size"])
            assert mask_utils.area(rle) == ann["area"]


def test_malsd_points_are_palm_centres_on_skin(demo_small: Path) -> None:
    from PIL import Image

    root = demo_paths(demo_small)["malsd"]
    points = read_points(root)
    test_files = {
        p.relative_to(root).as_posix()
        for files in class_images(root, "test").values()
        for p in files
    }
    assert {entry.file for entry in points} == test_files
    for entry in points:
        assert entry.points.shape == (1, 2) and entry.labels.tolist() == [1]
        x, y = entry.points[0].round().astype(int)
        r, g, b = np.asarray(Image.open(entry.path).convert("RGB"))[y, x].astype(int)
        assert r > b + 15, f"point of {entry.file} is not on skin: {(r, g, b)}"


def test_act0_frames_show_the_yellow_sheet_and_ng_frames_do_not(demo_small: Path) -> None:
    from PIL import Image

    def sheet_fraction(path: Path) -> float:
        rgb = np.asarray(Image.open(path)).astype(int)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        pale_yellow = (r > 150) & (g > 0.9 * r) & (r + g - 2 * b > 100)
        return float(pale_yellow.mean())

    found = class_images(demo_paths(demo_small)["malsd"], "train")
    act0 = [sheet_fraction(p) for p in found["Act0"]]
    ng = [sheet_fraction(p) for p in found["NG"]]
    assert min(act0) > 0.03
    assert max(ng) < 0.005


def test_refuses_a_non_demo_folder_and_needs_overwrite_for_old_demo_data(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.txt").write_text("keep me")
    with pytest.raises(DataError, match="busy"):
        generate_demo(busy, scale="tiny")
    assert (busy / "thesis.txt").read_text() == "keep me"

    out = tmp_path / "demo"
    generate_demo(out, scale="tiny", seed=3)
    with pytest.raises(DataError, match="overwrite"):
        generate_demo(out, scale="tiny", seed=4)
    generate_demo(out, scale="tiny", seed=4, overwrite=True)
    assert read_manifest(out)["seed"] == 4
    assert verify_manifest(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "demo"], "no temp folders left"


def test_bad_scale_and_seed_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="huge"):
        generate_demo(tmp_path / "x", scale="huge")
    with pytest.raises(ConfigError, match="seed"):
        generate_demo(tmp_path / "x", seed=-1)
    with pytest.raises(ConfigError, match=">= 1"):
        DemoScale(0, (320, 240), 1, 1, (160, 120), 1)


def test_progress_reports_every_image(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate_demo(
        tmp_path / "d", scale="tiny", progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(i, 22) for i in range(1, 23)]
