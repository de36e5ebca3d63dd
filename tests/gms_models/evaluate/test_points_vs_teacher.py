"""Point-prompt mIoU against the teacher's masks (Table 3 protocol), on a generated MALSD
folder and on points derived from coco-mini."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gms_models.data.coco import CocoInstances
from gms_models.data.malsd import HandPoints, read_points
from gms_models.errors import DataError
from gms_models.evaluate.points_vs_teacher import (
    evaluate_points_vs_teacher,
    interior_point,
    pad_prompts,
    points_from_coco,
)
from gms_models.evaluate.run import build_teacher_sam
from gms_models.sam import Sam


def test_teacher_against_itself_scores_one(
    demo_malsd: Path, teacher_fast: Sam, teacher_ckpt: Path
) -> None:
    points = read_points(demo_malsd)
    # a second teacher built separately: nothing shared but the weights
    twin = build_teacher_sam(teacher_ckpt, teacher_fast.img_size)
    result = evaluate_points_vs_teacher(twin, teacher_fast, points, progress=False)
    assert result.miou == 1.0
    assert result.images == result.prompts == len(points) == 4
    for record, entry in zip(result.per_prompt, points, strict=True):
        assert record.file == entry.file
        assert record.mask_token == record.reference_mask_token
        assert record.mask_pixels == record.reference_pixels
        assert record.mask_token in (1, 2, 3)
    assert result.metrics() == {"miou": 1.0}


def test_perturbed_student_scores_below_one(
    demo_malsd: Path, teacher_fast: Sam, perturbed_fast: Sam, tmp_path: Path
) -> None:
    points = read_points(demo_malsd)
    result = evaluate_points_vs_teacher(perturbed_fast, teacher_fast, points, progress=False)
    ious = [r.iou for r in result.per_prompt]
    assert 0.0 <= result.miou < 1.0
    assert result.miou == pytest.approx(np.mean(ious))
    assert min(ious) < 1.0
    saved = json.loads(result.to_json(tmp_path / "points.json").read_text())
    assert saved["miou"] == result.miou and len(saved["per_prompt"]) == 4
    assert saved["per_prompt"][0]["points"] == points[0].points.astype(float).tolist()

    single = evaluate_points_vs_teacher(
        perturbed_fast, teacher_fast, points, candidates="single", progress=False
    )
    assert {r.mask_token for r in single.per_prompt} == {0}


def test_coco_points_share_one_embedding_per_image(
    coco_two: CocoInstances, teacher_fast: Sam, perturbed_fast: Sam
) -> None:
    points = points_from_coco(coco_two)
    assert len(points) == 19  # every non-crowd annotation of the two images
    masks = {
        (image.path, i): ann.mask
        for image in coco_two
        for i, ann in enumerate(a for a in image.annotations if not a.iscrowd)
    }
    per_image: dict[Path, int] = {}
    for entry in points:
        index = per_image.get(entry.path, 0)
        per_image[entry.path] = index + 1
        x, y = entry.points[0]
        assert masks[(entry.path, index)][int(y), int(x)]  # the point lies on its object
    calls: list[tuple[int, int]] = []
    result = evaluate_points_vs_teacher(
        perturbed_fast,
        teacher_fast,
        points,
        progress=False,
        callback=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 2), (2, 2)]  # two images, each embedded once
    assert result.images == 2 and result.prompts == 19
    assert result.per_prompt[0].file == "000000005001.jpg"


def test_prompt_padding_and_interior_points() -> None:
    entries = [
        HandPoints("a.jpg", Path("a.jpg"), np.array([[1.0, 2.0]]), np.array([1])),
        HandPoints("a.jpg", Path("a.jpg"), np.array([[3.0, 4.0], [5.0, 6.0]]), np.array([1, 0])),
    ]
    coords, labels = pad_prompts(entries)
    assert coords.shape == (2, 2, 2) and labels.tolist() == [[1, -1], [1, 0]]
    assert coords[1].tolist() == [[3.0, 4.0], [5.0, 6.0]]

    ring = np.zeros((9, 9), dtype=bool)
    ring[1:8, 1:8] = True
    ring[3:6, 3:6] = False  # the centroid (4, 4) is in the hole
    x, y = interior_point(ring)
    assert ring[int(y), int(x)]
    assert interior_point(np.zeros((3, 3), dtype=bool)) is None
    with pytest.raises(DataError, match="no point prompts"):
        evaluate_points_vs_teacher(None, None, [])  # type: ignore[arg-type]
