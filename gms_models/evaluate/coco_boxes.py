"""Box-prompt mIoU on COCO, the nanosam protocol: each box clipped (a few COCO boxes end a fraction
of a pixel outside), the best candidate's IoU, plain means. An empty ground-truth mask would score
0 whatever the model does: it is left out (``skipped_empty_gt``); crowds with ``include_crowd``."""

from __future__ import annotations

import logging

import numpy as np

from gms_models.data.coco import CocoAnnotation, CocoImage, CocoInstances
from gms_models.data.scan import ProgressFn
from gms_models.errors import ConfigError, DataError
from gms_models.evaluate.loop import score_images
from gms_models.evaluate.masks import Candidates, check_candidates, mask_iou, predict_best
from gms_models.evaluate.results import AnnotationResult, CocoBoxEval
from gms_models.sam.predictor import SamPredictor
from gms_models.sam.sam import Sam

log = logging.getLogger(__name__)


def clip_box(
    box_xyxy: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    sides = (width, height, width, height)
    x0, y0, x1, y1 = (min(max(v, 0.0), side) for v, side in zip(box_xyxy, sides, strict=True))
    return (x0, y0, x1, y1)


def evaluate_coco_boxes(
    model: Sam,
    coco: CocoInstances,
    *,
    teacher: Sam | None = None,
    batch_prompts: int = 64,
    include_crowd: bool = False,
    candidates: Candidates = "multimask",
    progress: bool = True,
    callback: ProgressFn | None = None,
) -> CocoBoxEval:
    """Against COCO's masks, or with ``teacher`` against its masks for the same boxes."""
    if batch_prompts < 1:
        raise ConfigError(f"batch_prompts must be >= 1, got {batch_prompts}")
    check_candidates(candidates)
    reference = "gt" if teacher is None else "teacher"
    records: list[AnnotationResult] = []
    skipped_empty: list[int] = []
    skipped_crowd = 0

    def load(index: int) -> tuple[np.ndarray, tuple[CocoImage, list[CocoAnnotation]]] | None:
        nonlocal skipped_crowd
        image = coco[index]
        chosen_anns: list[CocoAnnotation] = []
        for ann in image.annotations:
            if ann.iscrowd and not include_crowd:
                skipped_crowd += 1
            elif teacher is None and not ann.mask.any():
                log.warning(
                    "annotation %d of image %d has an empty ground-truth mask; left out",
                    ann.id,
                    image.id,
                )
                skipped_empty.append(ann.id)
            else:
                chosen_anns.append(ann)
        return (image.load(), (image, chosen_anns)) if chosen_anns else None

    def decode(
        work: tuple[CocoImage, list[CocoAnnotation]], predictors: list[SamPredictor]
    ) -> np.ndarray:
        image, chosen_anns = work
        scores = []
        for start in range(0, len(chosen_anns), batch_prompts):
            chunk = chosen_anns[start : start + batch_prompts]
            boxes = np.array(
                [clip_box(a.box_xyxy, image.width, image.height) for a in chunk], dtype=np.float32
            )
            chosen = predict_best(predictors[0], boxes=boxes, candidates=candidates)
            if teacher is None:
                ref = None
                ref_masks = np.stack([a.mask for a in chunk])
            else:
                ref = predict_best(predictors[1], boxes=boxes, candidates=candidates)
                ref_masks = ref.masks
            ious = mask_iou(chosen.masks, ref_masks)
            records.extend(
                AnnotationResult(
                    annotation_id=ann.id,
                    image_id=ann.image_id,
                    category_id=ann.category_id,
                    area=ann.area,
                    area_bin=ann.area_bin,
                    iscrowd=ann.iscrowd,
                    iou=float(ious[i]),
                    mask_token=int(chosen.tokens[i]),
                    predicted_iou=float(chosen.predicted_iou[i]),
                    reference_mask_token=None if ref is None else int(ref.tokens[i]),
                    reference_predicted_iou=None if ref is None else float(ref.predicted_iou[i]),
                )
                for i, ann in enumerate(chunk)
            )
            scores.append(ious)
        return np.concatenate(scores)

    models = [model] if teacher is None else [model, teacher]
    images, seconds, timings = score_images(
        models,
        range(len(coco)),
        load,
        decode,
        f"box mIoU vs {reference}",
        show=progress,
        callback=callback,
    )
    if not records:
        raise DataError(
            f"nothing to evaluate in {coco.annotation_file} ({len(coco)} images): "
            f"{skipped_crowd} crowd annotations left out (include_crowd={include_crowd}), "
            f"{len(skipped_empty)} with an empty ground-truth mask"
        )
    return CocoBoxEval.from_records(
        records,
        reference=reference,
        annotation_file=str(coco.annotation_file),
        candidates=candidates,
        img_size=model.img_size,
        reference_img_size=None if teacher is None else teacher.img_size,
        include_crowd=include_crowd,
        images=images,
        seconds=seconds,
        timings=timings,
        skipped_crowd=skipped_crowd,
        skipped_empty_gt=skipped_empty,
    )
