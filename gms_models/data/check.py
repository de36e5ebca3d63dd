"""Checking a dataset folder before a long job, listing every problem. A COCO file's images are in
``ROOT/images``, ``ROOT/<name>`` or ``ROOT/<name before '_'>`` (``instances_val2017``: val2017)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gms_models.data.coco import coco_image_entries
from gms_models.data.malsd import MALSD_SPLITS, POINTS_FILENAME, read_points, survey_layout
from gms_models.data.manifest import MANIFEST_NAME, verify_manifest
from gms_models.data.scan import BadImage, ProgressFn, list_images, scan_images
from gms_models.errors import DataError, ImageError
from gms_models.image_io import open_image

Layout = Literal["demo", "coco", "malsd", "images"]
LAYOUTS: tuple[Layout, ...] = ("demo", "coco", "malsd", "images")


@dataclass
class CheckReport:
    """``problems`` are errors, ``notes`` are not."""

    root: Path
    layout: Layout
    images_checked: int = 0
    bad_images: list[BadImage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad_images and not self.problems

    def merge(self, other: CheckReport) -> None:
        self.images_checked += other.images_checked
        self.bad_images += other.bad_images
        self.problems += other.problems
        self.notes += other.notes


def detect_layout(root: str | Path) -> Layout:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}")
    if any((root / split).is_dir() for split in MALSD_SPLITS):
        return "malsd"
    if (root / "annotations").is_dir() and any((root / "annotations").glob("*.json")):
        return "coco"
    if (root / "coco").is_dir() or (root / "malsd").is_dir():
        return "demo"
    return "images"


def coco_image_dir(root: Path, annotation_file: Path) -> Path | None:
    name = annotation_file.stem.removeprefix("instances_")
    candidates = (root / "images", root / name, root / name.split("_")[0])
    return next((candidate for candidate in candidates if candidate.is_dir()), None)


def _check_images(root: Path, strict: bool, progress: ProgressFn | None) -> CheckReport:
    report = CheckReport(root, "images")
    paths = list_images(root)
    if not paths:
        report.problems.append(f"no images (.jpg/.jpeg/.png) under {root}")
    report.bad_images = scan_images(paths, strict=strict, progress=progress)
    report.images_checked = len(paths)
    return report


def _check_coco(root: Path, strict: bool, progress: ProgressFn | None) -> CheckReport:
    report = CheckReport(root, "coco")
    annotation_files = sorted((root / "annotations").glob("*.json"))
    if not annotation_files:
        report.problems.append(f"no annotation files in {root / 'annotations'}")
    for annotation_file in annotation_files:
        image_dir = coco_image_dir(root, annotation_file)
        if image_dir is None:
            report.problems.append(f"{annotation_file}: no image folder found beside it")
            continue
        try:
            entries = coco_image_entries(annotation_file, image_dir)
        except DataError as exc:
            report.problems.append(str(exc))
            continue
        present = []
        for entry in entries:
            if not entry.path.is_file():
                report.problems.append(f"missing image named in {annotation_file}: {entry.path}")
                continue
            present.append(entry.path)
            try:
                with open_image(entry.path) as img:
                    size = img.size
            except ImageError:
                continue  # reported by the decode scan below
            if size != (entry.width, entry.height):
                report.problems.append(
                    f"{entry.path} is {size[0]}×{size[1]} but {annotation_file.name} says "
                    f"{entry.width}×{entry.height}"
                )
        report.bad_images += scan_images(present, strict=strict, progress=progress)
        report.images_checked += len(present)
    return report


def _check_malsd(root: Path, strict: bool, progress: ProgressFn | None) -> CheckReport:
    report = CheckReport(root, "malsd")
    paths, report.problems = survey_layout(root)
    report.bad_images = scan_images(paths, strict=strict, progress=progress)
    report.images_checked = len(paths)
    if (root / POINTS_FILENAME).is_file():
        try:
            points = read_points(root)
            report.notes.append(f"{POINTS_FILENAME}: point prompts for {len(points)} images")
        except (DataError, ImageError) as exc:
            report.problems.append(str(exc))
    else:
        report.notes.append(f"no {POINTS_FILENAME}: point-prompt evaluation is not possible")
    return report


def _check_demo(root: Path, progress: ProgressFn | None) -> CheckReport:
    report = CheckReport(root, "demo")
    if (root / MANIFEST_NAME).is_file():
        try:
            report.problems += verify_manifest(root)
        except DataError as exc:
            report.problems.append(str(exc))
    else:
        report.notes.append(f"no {MANIFEST_NAME}: file checksums not verified")
    parts = (
        ("coco", _check_coco, False),
        ("unlabeled", _check_images, False),
        ("malsd", _check_malsd, True),
    )
    for name, check, strict in parts:
        if (root / name).is_dir():
            report.merge(check(root / name, strict, progress))
        else:
            report.problems.append(f"demo data part missing: {root / name}")
    return report


def check_dataset(
    root: str | Path,
    *,
    layout: str = "auto",
    strict: bool | None = None,
    progress: ProgressFn | None = None,
) -> CheckReport:
    """``strict`` (refuse non-RGB images) defaults to True for MALSD only."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}")
    if layout != "auto" and layout not in LAYOUTS:
        raise DataError(f"unknown dataset layout {layout!r}; choose auto or one of {LAYOUTS}")
    chosen = detect_layout(root) if layout == "auto" else layout
    if chosen == "demo":
        return _check_demo(root, progress)
    check = {"malsd": _check_malsd, "coco": _check_coco, "images": _check_images}[chosen]
    return check(root, chosen == "malsd" if strict is None else strict, progress)
