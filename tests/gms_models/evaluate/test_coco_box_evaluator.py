"""Box-prompt mIoU on coco-mini (random-weight teacher at 256): agreement with an independent
computation, the size-bin edges, crowd and empty-mask handling, batching, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from gms_models.data.coco import CocoInstances
from gms_models.errors import DataError
from gms_models.evaluate.coco_boxes import evaluate_coco_boxes
from gms_models.evaluate.results import CocoBoxEval
from gms_models.sam import Sam, SamPredictor

IMAGE_20992 = {"id": 20992, "file_name": "000000020992.jpg", "width": 500, "height": 333}


@pytest.fixture(scope="module")
def result(teacher_fast: Sam, coco_two: CocoInstances) -> CocoBoxEval:
    return evaluate_coco_boxes(teacher_fast, coco_two, progress=False)


def _independent_iou(
    sam: Sam, coco: COCO, image_dir: Path, annotation_id: int
) -> tuple[float, int]:
    """IoU of the best multimask output for one annotation's box, from scratch."""
    ann = coco.anns[annotation_id]
    info = coco.imgs[ann["image_id"]]
    rgb = np.array(Image.open(image_dir / info["file_name"]).convert("RGB"))
    predictor = SamPredictor(sam)
    predictor.set_image(rgb)
    x, y, w, h = ann["bbox"]
    box = np.array([x, y, min(x + w, info["width"]), min(y + h, info["height"])])
    masks, iou_predictions, _ = predictor.predict(box=box, multimask_output=True)
    best = int(np.argmax(iou_predictions))
    gt = coco.annToMask(ann) > 0
    mask = masks[best]
    return float(np.logical_and(mask, gt).sum() / np.logical_or(mask, gt).sum()), best + 1


def test_agrees_with_an_independent_computation(
    result: CocoBoxEval, teacher_fast: Sam, coco_ann: Path, coco_images: Path
) -> None:
    coco = COCO(str(coco_ann))
    by_bin = {}
    for record in result.per_annotation:
        by_bin.setdefault(record.area_bin, []).append(record)
    picked = [records[0] for records in by_bin.values()] + [by_bin["medium"][-1]]
    assert {r.area_bin for r in picked} == {"small", "medium", "large"}
    for record in picked:
        iou, token = _independent_iou(teacher_fast, coco, coco_images, record.annotation_id)
        assert record.mask_token == token
        # batched vs one-prompt decoding differ by float rounding: at most a pixel or two
        assert record.iou == pytest.approx(iou, abs=1e-3)


def test_summary_is_the_plain_mean_by_documented_bins(result: CocoBoxEval) -> None:
    records = result.per_annotation
    assert result.prompts == len(records) == 19 and result.images == 2
    assert result.skipped_crowd == 1 and not any(r.iscrowd for r in records)
    assert result.miou == pytest.approx(np.mean([r.iou for r in records]))
    for name, low, high in (("small", 0, 32**2), ("medium", 32**2, 96**2), ("large", 96**2, 1e12)):
        members = [r for r in records if low <= r.area < high]
        assert all(r.area_bin == name for r in members)
        assert result.counts[name] == len(members) > 0
        assert getattr(result, f"miou_{name}") == pytest.approx(np.mean([r.iou for r in members]))
    assert set(result.metrics()) == {"miou", "miou_small", "miou_medium", "miou_large"}
    assert result.timings["encode"] > 0 and result.seconds >= sum(result.timings.values())


def test_crowd_on_request_batching_and_progress(
    result: CocoBoxEval, teacher_fast: Sam, coco_two: CocoInstances
) -> None:
    calls: list[tuple[int, int]] = []
    batched = evaluate_coco_boxes(
        teacher_fast,
        coco_two,
        batch_prompts=5,
        include_crowd=True,
        progress=False,
        callback=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 2), (2, 2)]
    assert batched.prompts == 20 and batched.skipped_crowd == 0
    crowd = [r for r in batched.per_annotation if r.iscrowd]
    assert len(crowd) == 1
    same = {r.annotation_id: r for r in batched.per_annotation if not r.iscrowd}
    for record in result.per_annotation:
        assert same[record.annotation_id].mask_token == record.mask_token
        assert same[record.annotation_id].iou == pytest.approx(record.iou, abs=1e-3)


def _square(ann_id: int, x: float, y: float, side: float, area: float) -> dict:
    polygon = [x, y, x + side, y, x + side, y + side, x, y + side]
    return {
        "id": ann_id,
        "image_id": IMAGE_20992["id"],
        "category_id": 1,
        "bbox": [x, y, side, side],
        "area": area,
        "iscrowd": 0,
        "segmentation": [polygon],
    }


def _write_annotations(path: Path, annotations: list[dict]) -> Path:
    dataset = {
        "images": [IMAGE_20992],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "thing"}],
    }
    path.write_text(json.dumps(dataset))
    return path


def test_bin_edges_empty_masks_and_boxes_past_the_border(
    tmp_path: Path, teacher_fast: Sam, coco_images: Path
) -> None:
    degenerate = _square(5, 50.0, 50.0, 0.0, 0.0)  # a polygon of one point: empty mask
    beyond = _square(6, 420.0, 260.0, 80.0, 6400.0)
    beyond["bbox"] = [420.0, 260.0, 80.6, 73.4]  # ends 0.6 px right of / 0.4 px below the image
    annotations = [
        _square(1, 100.0, 100.0, 31.0, 1023.0),
        _square(2, 150.0, 100.0, 32.0, 1024.0),
        _square(3, 200.0, 100.0, 95.0, 9215.5),
        _square(4, 300.0, 100.0, 96.0, 9216.0),
        degenerate,
        beyond,
    ]
    ann_file = _write_annotations(tmp_path / "edges.json", annotations)
    result = evaluate_coco_boxes(teacher_fast, CocoInstances(ann_file, coco_images), progress=False)
    bins = {r.annotation_id: r.area_bin for r in result.per_annotation}
    assert bins == {1: "small", 2: "medium", 3: "medium", 4: "large", 6: "medium"}
    assert result.skipped_empty_gt == [5]
    assert result.counts == {"small": 1, "medium": 3, "large": 1}
    medium = [r.iou for r in result.per_annotation if r.area_bin == "medium"]
    assert result.miou_medium == pytest.approx(np.mean(medium))

    only_small = _write_annotations(tmp_path / "small.json", annotations[:1])
    small = evaluate_coco_boxes(
        teacher_fast, CocoInstances(only_small, coco_images), progress=False
    )
    assert small.miou_medium is None and small.miou_large is None
    assert set(small.metrics()) == {"miou", "miou_small"}
    saved = json.loads(small.to_json(tmp_path / "out" / "small_result.json").read_text())
    assert saved["miou_medium"] is None and saved["miou_small"] == small.miou_small
    assert [r["annotation_id"] for r in saved["per_annotation"]] == [1]
    assert saved["per_annotation"][0]["iou"] == small.per_annotation[0].iou
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["small_result.json"]

    only_empty = _write_annotations(tmp_path / "empty.json", [degenerate])
    with pytest.raises(DataError, match=r"nothing to evaluate in .*empty\.json"):
        evaluate_coco_boxes(teacher_fast, CocoInstances(only_empty, coco_images), progress=False)
