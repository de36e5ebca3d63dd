"""Point-prompt mIoU against the teacher's masks, the paper's Table 3 protocol (MALSD has no
ground-truth masks). One prompt per :class:`HandPoints`; an image's share one decoder batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gms_models.data.coco import CocoInstances
from gms_models.data.malsd import HandPoints
from gms_models.data.scan import ProgressFn
from gms_models.errors import DataError
from gms_models.evaluate.loop import score_images
from gms_models.evaluate.masks import Candidates, check_candidates, mask_iou, predict_best
from gms_models.evaluate.results import PointEval, PointResult
from gms_models.image_io import load_rgb
from gms_models.sam.predictor import SamPredictor
from gms_models.sam.sam import Sam


def pad_prompts(entries: Sequence[HandPoints]) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) points and (N, K) labels, shorter prompts padded with label -1."""
    k = max(len(e.points) for e in entries)
    points = np.zeros((len(entries), k, 2), dtype=np.float32)
    labels = np.full((len(entries), k), -1, dtype=np.int32)
    for i, entry in enumerate(entries):
        n = len(entry.points)
        points[i, :n] = np.asarray(entry.points, dtype=np.float32).reshape(n, 2)
        labels[i, :n] = np.asarray(entry.labels).reshape(n)
    return points, labels


def evaluate_points_vs_teacher(
    student: Sam,
    teacher: Sam,
    points: Sequence[HandPoints],
    *,
    candidates: Candidates = "multimask",
    progress: bool = True,
    callback: ProgressFn | None = None,
) -> PointEval:
    check_candidates(candidates)
    if not points:
        raise DataError("no point prompts to evaluate (the points list is empty)")
    by_image: dict[Path, list[HandPoints]] = {}
    for entry in points:
        by_image.setdefault(Path(entry.path), []).append(entry)
    records: list[PointResult] = []

    def load(entries: list[HandPoints]) -> tuple[np.ndarray, list[HandPoints]]:
        return load_rgb(entries[0].path), entries

    def decode(entries: list[HandPoints], predictors: list[SamPredictor]) -> np.ndarray:
        coords, labels = pad_prompts(entries)
        chosen, ref = (
            predict_best(p, points=coords, labels=labels, candidates=candidates) for p in predictors
        )
        ious = mask_iou(chosen.masks, ref.masks)
        for i, entry in enumerate(entries):
            records.append(
                PointResult(
                    file=entry.file,
                    points=np.asarray(entry.points, dtype=np.float64).tolist(),
                    labels=[int(v) for v in np.asarray(entry.labels).reshape(-1)],
                    iou=float(ious[i]),
                    mask_token=int(chosen.tokens[i]),
                    predicted_iou=float(chosen.predicted_iou[i]),
                    mask_pixels=int(np.count_nonzero(chosen.masks[i])),
                    reference_mask_token=int(ref.tokens[i]),
                    reference_predicted_iou=float(ref.predicted_iou[i]),
                    reference_pixels=int(np.count_nonzero(ref.masks[i])),
                )
            )
        return ious

    images, seconds, timings = score_images(
        [student, teacher],
        list(by_image.values()),
        load,
        decode,
        "point mIoU vs teacher",
        show=progress,
        callback=callback,
    )
    return PointEval(
        candidates=candidates,
        img_size=student.img_size,
        reference_img_size=teacher.img_size,
        miou=sum(r.iou for r in records) / len(records),
        images=images,
        prompts=len(records),
        seconds=seconds,
        timings=timings,
        per_prompt=records,
    )


def interior_point(mask: np.ndarray) -> tuple[float, float] | None:
    """The pixel nearest the centroid as (x, y), None if empty (a ring's centroid is off it)."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    cy, cx = rows.mean(), cols.mean()
    nearest = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
    return float(cols[nearest]), float(rows[nearest])


def points_from_coco(coco: CocoInstances) -> list[HandPoints]:
    """One foreground point per non-crowd annotation with a mask."""
    prompts: list[HandPoints] = []
    for image in coco:
        file = image.path.relative_to(coco.image_dir).as_posix()
        for ann in image.annotations:
            point = None if ann.iscrowd else interior_point(ann.mask)
            if point is None:
                continue
            prompts.append(
                HandPoints(
                    file=file,
                    path=image.path,
                    points=np.array([point], dtype=np.float32),
                    labels=np.array([1], dtype=np.int64),
                )
            )
    return prompts
