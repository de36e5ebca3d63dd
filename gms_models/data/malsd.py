"""MALSD in its folder layout (README, Data layouts): class images, layout checks, hand-point
prompts, import. Readers are strict: a non-RGB image (from its header) is an error naming it."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from gms_models.data.scan import DATASET_IMAGE_SUFFIXES, describe_paths, list_images
from gms_models.errors import DataError, ImageError
from gms_models.files import ensure_replaceable, staged_folder, write_json
from gms_models.image_io import IMAGE_SUFFIXES, open_image

log = logging.getLogger(__name__)

#: Class folder names in label order: ``Act0`` → 0, ``NG`` → 1.
MALSD_CLASSES: tuple[str, str] = ("Act0", "NG")
Split = Literal["train", "test"]
MALSD_SPLITS: tuple[Split, Split] = ("train", "test")
POINTS_FILENAME = "test_points.json"
POINTS_VERSION = 1


def _class_folder_images(
    class_dir: Path, suffixes: tuple[str, ...] = DATASET_IMAGE_SUFFIXES
) -> tuple[list[Path], str | None]:
    if not class_dir.is_dir():
        return [], f"MALSD class folder missing: {class_dir}"
    images = list_images(class_dir, suffixes)
    if not images:
        return [], f"MALSD class folder has no images ({'/'.join(suffixes)}): {class_dir}"
    return images, None


def class_images(root: str | Path, split: Split) -> dict[str, list[Path]]:
    root = Path(root)
    if split not in MALSD_SPLITS:
        raise DataError(f"MALSD split must be one of {MALSD_SPLITS}, got {split!r}")
    if not root.is_dir():
        raise DataError(f"MALSD folder not found: {root}")
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(f"MALSD split folder missing: {split_dir} (expected {split}/Act0, NG)")
    found: dict[str, list[Path]] = {}
    for name in MALSD_CLASSES:
        images, problem = _class_folder_images(split_dir / name)
        if problem is not None:
            raise DataError(problem)
        found[name] = images
    extra = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and p.name not in found)
    if extra:
        log.warning("ignoring folders %s in %s (classes are %s)", extra, split_dir, MALSD_CLASSES)
    return found


def survey_layout(
    root: str | Path, suffixes: tuple[str, ...] = DATASET_IMAGE_SUFFIXES
) -> tuple[list[Path], list[str]]:
    """Every image of both splits and every layout problem (:func:`class_images` raises)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"MALSD folder not found: {root}")
    paths: list[Path] = []
    problems: list[str] = []
    for split in MALSD_SPLITS:
        for name in MALSD_CLASSES:
            images, problem = _class_folder_images(root / split / name, suffixes)
            paths += images
            if problem is not None:
                problems.append(problem)
    return paths, problems


def check_malsd_layout(root: Path) -> dict[str, dict[str, int]]:
    """Image counts per split and class (any suffix Pillow reads, BMP included)."""
    paths, problems = survey_layout(root, IMAGE_SUFFIXES)
    if problems:
        raise DataError(
            "not a MALSD folder (expected train|test/Act0|NG/<images>): " + "; ".join(problems)
        )
    counts = Counter(path.relative_to(root).parts[:2] for path in paths)
    return {
        split: {label: counts[split, label] for label in MALSD_CLASSES} for split in MALSD_SPLITS
    }


def import_malsd(src: Path, dest: Path, *, overwrite: bool = False) -> dict[str, dict[str, int]]:
    """Copy the tree at ``src`` (other files too) to ``dest``, staged, checked before and after."""
    src, dest = Path(src), Path(dest)
    counts = check_malsd_layout(src)
    ensure_replaceable(dest, overwrite)
    with staged_folder(dest) as staging:
        shutil.copytree(src, staging, dirs_exist_ok=True)
        if check_malsd_layout(staging) != counts:
            raise DataError(f"copying {src} gave different image counts; is it being modified?")
    return counts


def check_rgb_modes(paths: Sequence[Path]) -> None:
    wrong: list[str] = []
    for path in paths:
        try:
            with open_image(path) as img:
                mode = img.mode
        except ImageError as exc:
            wrong.append(f"{path} (cannot be read: {exc})")
            continue
        if mode != "RGB":
            wrong.append(f"{path} (mode {mode})")
    if wrong:
        raise ImageError(f"{len(wrong)} MALSD images are not RGB images: {describe_paths(wrong)}")


@dataclass(frozen=True, eq=False)
class HandPoints:
    """The point prompt of one test image: (N, 2) float32 ``[x, y]``, (N,) int64 labels (1 = fg)."""

    file: str
    path: Path
    points: np.ndarray
    labels: np.ndarray


class _PointsEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    points: list[tuple[FiniteFloat, FiniteFloat]] = Field(min_length=1)
    labels: list[Literal[0, 1]]

    @field_validator("file")
    @classmethod
    def _inside_root(cls, file: str) -> str:
        relative = PurePosixPath(file)
        if relative.is_absolute() or ".." in relative.parts or "\\" in file:
            raise ValueError(f"file {file!r} must be a relative POSIX path without '..'")
        return file

    @model_validator(mode="after")
    def _same_length(self) -> _PointsEntry:
        if len(self.points) != len(self.labels):
            raise ValueError(f"{len(self.points)} points but {len(self.labels)} labels")
        return self


class _PointsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1]
    images: list[_PointsEntry]


def read_points(root: str | Path) -> list[HandPoints]:
    root = Path(root)
    points_file = root / POINTS_FILENAME
    if not points_file.is_file():
        raise DataError(f"MALSD points file not found: {points_file}")
    try:
        parsed = _PointsFile.model_validate_json(points_file.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(
            f"{points_file} is malformed at '{where}': {first['msg']} ({exc.error_count()} errors)"
        ) from exc
    result: list[HandPoints] = []
    seen: set[str] = set()
    missing: list[Path] = []
    for entry in parsed.images:
        if entry.file in seen:
            raise DataError(f"{points_file}: {entry.file} is listed twice")
        seen.add(entry.file)
        path = root / entry.file
        if not path.is_file():
            missing.append(path)
            continue
        points = np.asarray(entry.points, dtype=np.float32).reshape(-1, 2)
        with open_image(path) as img:
            width, height = img.size
        outside = (points[:, 0] < 0) | (points[:, 0] >= width)
        outside |= (points[:, 1] < 0) | (points[:, 1] >= height)
        if outside.any():
            raise DataError(
                f"{points_file}: points {points[outside].tolist()} of {entry.file} lie outside "
                f"the {width}×{height} image"
            )
        labels = np.asarray(entry.labels, dtype=np.int64)
        result.append(HandPoints(entry.file, path, points, labels))
    if missing:
        raise DataError(
            f"{points_file} names {len(missing)} missing images: {describe_paths(missing)}"
        )
    return result


def write_points(path: str | Path, entries: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """Byte-stable: sorted, coordinates rounded to 2 decimals."""
    images = [
        {
            "file": file,
            "points": [[round(float(x), 2), round(float(y), 2)] for x, y in np.asarray(points)],
            "labels": [int(v) for v in np.asarray(labels)],
        }
        for file, points, labels in sorted(entries, key=lambda e: e[0])
    ]
    document = {"version": POINTS_VERSION, "images": images}
    _PointsFile.model_validate(document)
    write_json(path, document)
