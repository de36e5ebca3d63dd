"""COCO instances for box-prompt evaluation, by image; area bins are half-open (README)."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pycocotools.coco import COCO

from gms_models.data.scan import describe_paths
from gms_models.errors import DataError
from gms_models.files import read_json
from gms_models.image_io import load_rgb

AreaBin = Literal["small", "medium", "large"]
AREA_BINS: tuple[AreaBin, ...] = ("small", "medium", "large")
MEDIUM_MIN_AREA = 32**2
LARGE_MIN_AREA = 96**2

_REQUIRED_KEYS = {
    "images": ("id", "file_name", "width", "height"),
    "annotations": ("id", "image_id", "category_id", "bbox", "area", "segmentation"),
}


def area_bin(area: float) -> AreaBin:
    if not math.isfinite(area) or area < 0:
        raise ValueError(f"annotation area must be a finite number >= 0, got {area}")
    if area < MEDIUM_MIN_AREA:
        return "small"
    if area < LARGE_MIN_AREA:
        return "medium"
    return "large"


@dataclass(frozen=True, eq=False)
class CocoAnnotation:
    id: int
    image_id: int
    category_id: int
    category_name: str
    box_xyxy: tuple[float, float, float, float]
    area: float
    iscrowd: bool
    mask: np.ndarray

    @property
    def area_bin(self) -> AreaBin:
        return area_bin(self.area)


@dataclass(frozen=True, eq=False)
class CocoImage:
    id: int
    path: Path
    width: int
    height: int
    annotations: tuple[CocoAnnotation, ...]

    def load(self) -> np.ndarray:
        rgb = load_rgb(self.path)
        if rgb.shape[:2] != (self.height, self.width):
            raise DataError(
                f"image {self.path} is {rgb.shape[1]}×{rgb.shape[0]} but its annotation file "
                f"says {self.width}×{self.height}"
            )
        return rgb


@dataclass(frozen=True)
class CocoImageEntry:
    path: Path
    width: int
    height: int


def _read_json(annotation_file: Path) -> dict[str, Any]:
    dataset = read_json(annotation_file, what="COCO annotation file")
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            raise DataError(f"COCO annotation file {annotation_file} has no '{key}' list")
    for key, required in _REQUIRED_KEYS.items():
        for index, item in enumerate(dataset[key]):
            if missing := [k for k in required if k not in item]:
                what = f"{key[:-1]} #{index} (id {item.get('id')})"
                raise DataError(f"{annotation_file}: {what} lacks {missing}")
    image_ids = {img["id"] for img in dataset["images"]}
    for ann in dataset["annotations"]:
        problem = _geometry_problem(ann)
        if problem is not None:
            raise DataError(f"{annotation_file}: annotation {ann['id']} has {problem}")
        if ann["image_id"] not in image_ids:
            raise DataError(
                f"{annotation_file}: annotation {ann['id']} refers to image id "
                f"{ann['image_id']}, which is not in 'images'"
            )
    return dataset


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _geometry_problem(ann: dict[str, Any]) -> str | None:
    bbox = ann["bbox"]
    if not (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(_finite(v) for v in bbox)
        and min(bbox[2:]) >= 0
    ):
        return f"bbox {bbox}: expected [x, y, width, height], finite, width and height >= 0"
    if not _finite(ann["area"]) or ann["area"] < 0:
        return f"area {ann['area']}: expected a finite number >= 0"
    return None


def coco_image_entries(annotation_file: str | Path, image_dir: str | Path) -> list[CocoImageEntry]:
    dataset = _read_json(Path(annotation_file))
    return [
        CocoImageEntry(Path(image_dir) / img["file_name"], int(img["width"]), int(img["height"]))
        for img in sorted(dataset["images"], key=lambda i: i["id"])
    ]


class CocoInstances:
    """One :class:`CocoImage` per image, by id or in the order of ``image_ids``."""

    def __init__(
        self,
        annotation_file: str | Path,
        image_dir: str | Path,
        *,
        image_ids: Sequence[int] | None = None,
        include_empty: bool = False,
        max_images: int | None = None,
    ) -> None:
        self.annotation_file = Path(annotation_file)
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise DataError(f"COCO image folder not found: {self.image_dir}")
        dataset = _read_json(self.annotation_file)
        self.coco = COCO()
        self.coco.dataset = dataset
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco.createIndex()
        self.categories: dict[int, str] = {c["id"]: c["name"] for c in dataset["categories"]}

        if image_ids is None:
            ids = sorted(self.coco.imgs)
        else:
            unknown = [i for i in image_ids if i not in self.coco.imgs]
            if unknown:
                raise DataError(f"image ids {unknown[:5]} are not in {self.annotation_file}")
            ids = list(image_ids)
        if not include_empty:
            ids = [i for i in ids if self.coco.imgToAnns.get(i)]
        if max_images is not None:
            ids = ids[:max_images]
        self.image_ids: list[int] = ids

        missing = [p for p in map(self.image_path, ids) if not p.is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} of {len(ids)} images named in {self.annotation_file} are missing "
                f"from {self.image_dir}: {describe_paths(missing)}"
            )

    def image_path(self, image_id: int) -> Path:
        file_name: str = self.coco.imgs[image_id]["file_name"]  # pycocotools is untyped
        return self.image_dir / file_name

    @property
    def num_annotations(self) -> int:
        return sum(len(self.coco.imgToAnns.get(i, ())) for i in self.image_ids)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> CocoImage:
        image_id = self.image_ids[index]
        info = self.coco.imgs[image_id]
        anns = sorted(self.coco.imgToAnns.get(image_id, ()), key=lambda a: a["id"])
        return CocoImage(
            id=image_id,
            path=self.image_path(image_id),
            width=int(info["width"]),
            height=int(info["height"]),
            annotations=tuple(self._annotation(a) for a in anns),
        )

    def __iter__(self) -> Iterator[CocoImage]:
        for index in range(len(self)):
            yield self[index]

    def _annotation(self, ann: dict[str, Any]) -> CocoAnnotation:
        x, y, w, h = (float(v) for v in ann["bbox"])
        try:
            mask = self.coco.annToMask(ann).astype(bool)
        except Exception as exc:  # pycocotools raises bare TypeError/ValueError on bad segments
            raise DataError(
                f"{self.annotation_file}: annotation {ann['id']} has an unreadable segmentation: "
                f"{exc}"
            ) from exc
        return CocoAnnotation(
            id=int(ann["id"]),
            image_id=int(ann["image_id"]),
            category_id=int(ann["category_id"]),
            category_name=self.categories.get(ann["category_id"], str(ann["category_id"])),
            box_xyxy=(x, y, x + w, y + h),
            area=float(ann["area"]),
            iscrowd=bool(ann.get("iscrowd", 0)),
            mask=mask,
        )
