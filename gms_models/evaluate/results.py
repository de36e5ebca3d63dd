"""Evaluation results: per-prompt records, summaries, tracker metrics and JSON files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from gms_models.data.coco import AREA_BINS, AreaBin
from gms_models.files import write_json

Reference = Literal["gt", "teacher"]


@dataclass(frozen=True)
class AnnotationResult:
    """One COCO annotation's box; ``reference_*`` with the teacher as reference."""

    annotation_id: int
    image_id: int
    category_id: int
    area: float
    area_bin: AreaBin
    iscrowd: bool
    iou: float
    mask_token: int
    predicted_iou: float
    reference_mask_token: int | None = None
    reference_predicted_iou: float | None = None


@dataclass(frozen=True)
class PointResult:
    file: str
    points: list[list[float]]
    labels: list[int]
    iou: float
    mask_token: int
    predicted_iou: float
    mask_pixels: int
    reference_mask_token: int
    reference_predicted_iou: float
    reference_pixels: int


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class _Evaluation:
    """``_RECORDS`` names the per-prompt list, ``_METRICS`` the mIoU fields; ``timings`` holds the
    seconds in load, encode and decode."""

    _RECORDS: ClassVar[str]
    _METRICS: ClassVar[tuple[str, ...]] = ("miou",)
    candidates: str
    img_size: int
    miou: float
    images: int
    prompts: int
    seconds: float
    timings: dict[str, float]

    @property
    def prompts_per_second(self) -> float:
        return self.prompts / self.seconds if self.seconds > 0 else float("inf")

    def metrics(self) -> dict[str, float]:
        """Empty bins (None) are left out."""
        values = {name: getattr(self, name) for name in self._METRICS}
        return {k: float(v) for k, v in values.items() if v is not None}

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop(self._RECORDS)
        data["prompts_per_second"] = self.prompts_per_second
        return data

    def to_json(self, path: str | Path) -> Path:
        data = self.summary()
        data[self._RECORDS] = [asdict(r) for r in getattr(self, self._RECORDS)]
        return write_json(path, data)


@dataclass
class CocoBoxEval(_Evaluation):
    """Box-prompt mIoU on COCO, overall and by size bin (None for an empty bin)."""

    _RECORDS = "per_annotation"
    _METRICS = ("miou", "miou_small", "miou_medium", "miou_large")
    reference: Reference
    annotation_file: str
    reference_img_size: int | None
    include_crowd: bool
    miou_small: float | None
    miou_medium: float | None
    miou_large: float | None
    counts: dict[str, int]
    skipped_crowd: int
    skipped_empty_gt: list[int]
    per_annotation: list[AnnotationResult] = field(repr=False)

    @classmethod
    def from_records(cls, records: list[AnnotationResult], **summary: Any) -> CocoBoxEval:
        by_bin = {b: [r.iou for r in records if r.area_bin == b] for b in AREA_BINS}
        overall = _mean([r.iou for r in records])
        if overall is None:
            raise ValueError("no annotation was evaluated")
        return cls(
            miou=overall,
            miou_small=_mean(by_bin["small"]),
            miou_medium=_mean(by_bin["medium"]),
            miou_large=_mean(by_bin["large"]),
            counts={b: len(v) for b, v in by_bin.items()},
            prompts=len(records),
            per_annotation=records,
            **summary,
        )


@dataclass
class PointEval(_Evaluation):
    _RECORDS = "per_prompt"
    reference_img_size: int
    per_prompt: list[PointResult] = field(repr=False)
