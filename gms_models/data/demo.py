"""The demo dataset, byte-identical per seed and scale: a generator per image, fixed JPEG settings,
sorted JSON keys, no timestamps. Bump :data:`GENERATOR_VERSION` when the bytes change on purpose."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from gms_models.data.demo_scenes import SCENE_CATEGORIES, SceneObject, assembly_frame, object_scene
from gms_models.data.malsd import MALSD_CLASSES, POINTS_FILENAME, write_points
from gms_models.data.manifest import MANIFEST_NAME, read_manifest, write_manifest
from gms_models.data.scan import ProgressFn
from gms_models.errors import ConfigError, DataError
from gms_models.files import staged_folder, write_json

GENERATOR_VERSION = 1
DEMO_FORMAT = "gms-demo-data"

_STREAM_COCO, _STREAM_MALSD_TRAIN, _STREAM_MALSD_TEST, _STREAM_UNLABELED = 1, 2, 3, 4


@dataclass(frozen=True)
class DemoScale:
    """Sizes are (width, height)."""

    coco_images: int
    coco_size: tuple[int, int]
    malsd_train_per_class: int
    malsd_test_per_class: int
    malsd_size: tuple[int, int]
    unlabeled_images: int

    def __post_init__(self) -> None:
        counts = (
            self.coco_images,
            self.malsd_train_per_class,
            self.malsd_test_per_class,
            self.unlabeled_images,
        )
        if min(counts) < 1:
            raise ConfigError(f"every demo image count must be >= 1, got {self}")
        if min(*self.coco_size, *self.malsd_size) < 64:
            raise ConfigError(f"demo image sides must be >= 64 pixels, got {self}")


DEMO_SCALES: dict[str, DemoScale] = {
    "tiny": DemoScale(6, (320, 240), 4, 2, (160, 120), 4),
    "small": DemoScale(24, (320, 240), 16, 8, (160, 120), 12),
    "medium": DemoScale(96, (640, 480), 64, 32, (320, 240), 48),
}


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index])


def _save_jpeg(rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(
        path, format="JPEG", quality=90, subsampling="4:2:0", optimize=False, progressive=False
    )


def _uncompressed_rle(mask: np.ndarray) -> dict[str, list[int]]:
    """COCO's crowd encoding: run lengths of the column-major mask, starting with a 0-run."""
    flat = np.asfortranarray(mask).ravel(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0, *counts]
    return {"counts": [int(c) for c in counts], "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _coco_annotation(
    obj: SceneObject, ann_id: int, image_id: int, w: int, h: int
) -> dict[str, Any]:
    if obj.crowd:
        segmentation: list[list[float]] | dict[str, list[int]] = _uncompressed_rle(obj.mask)
        rle = mask_utils.frPyObjects(segmentation, h, w)
    else:
        segmentation = [[float(v) for v in poly.reshape(-1)] for poly in obj.polygons]
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": SCENE_CATEGORIES.index(obj.category) + 1,
        "segmentation": segmentation,
        "area": float(mask_utils.area(rle)),
        "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
        "iscrowd": int(obj.crowd),
    }


def _write_coco(root: Path, seed: int, scale: DemoScale, tick: Callable[[], None]) -> None:
    width, height = scale.coco_size
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(scale.coco_images):
        image_id = index + 1
        rgb, objects = object_scene(
            _rng(seed, _STREAM_COCO, index),
            width,
            height,
            with_large=index % 4 != 3,
            with_crowd=index % 3 == 1,
        )
        file_name = f"{image_id:012d}.jpg"
        _save_jpeg(rgb, root / "coco" / "images" / file_name)
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for obj in objects:
            ann_id = len(annotations) + 1
            annotations.append(_coco_annotation(obj, ann_id, image_id, width, height))
        tick()
    categories = [
        {"id": i + 1, "name": name, "supercategory": "person" if name == "hand" else "object"}
        for i, name in enumerate(SCENE_CATEGORIES)
    ]
    document = {
        "info": {"description": "gms built-in demo data", "version": str(GENERATOR_VERSION)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    write_json(root / "coco" / "annotations" / "instances.json", document, indent=None)


def _write_malsd(root: Path, seed: int, scale: DemoScale, tick: Callable[[], None]) -> None:
    width, height = scale.malsd_size
    points = []
    for split, stream, per_class in (
        ("train", _STREAM_MALSD_TRAIN, scale.malsd_train_per_class),
        ("test", _STREAM_MALSD_TEST, scale.malsd_test_per_class),
    ):
        for label, name in enumerate(MALSD_CLASSES):
            for i in range(per_class):
                rng = _rng(seed, stream, label * 1_000_000 + i)
                rgb, palm = assembly_frame(rng, width, height, holds_instructions=label == 0)
                rel = f"{split}/{name}/{name.lower()}_{i:04d}.jpg"
                _save_jpeg(rgb, root / "malsd" / rel)
                if split == "test":
                    points.append((rel, np.array([palm]), np.array([1])))
                tick()
    write_points(root / "malsd" / POINTS_FILENAME, points)


def _write_unlabeled(root: Path, seed: int, scale: DemoScale, tick: Callable[[], None]) -> None:
    width, height = scale.coco_size
    for index in range(scale.unlabeled_images):
        rng = _rng(seed, _STREAM_UNLABELED, index)
        if index % 3 == 2:
            frame, _ = assembly_frame(rng, width, height, holds_instructions=index % 2 == 0)
            (root / "unlabeled" / "line").mkdir(parents=True, exist_ok=True)
            png = root / "unlabeled" / "line" / f"frame_{index:04d}.png"
            Image.fromarray(frame).save(png, format="PNG", compress_level=6)
        else:
            w, h = (height, width) if index % 4 == 0 else (width, height)
            scene, _ = object_scene(rng, w, h, with_large=True, with_crowd=False)
            _save_jpeg(scene, root / "unlabeled" / "scenes" / f"scene_{index:04d}.jpg")
        tick()


def _check_destination(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"demo output {out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        is_demo = read_manifest(out).get("format") == DEMO_FORMAT
    except DataError:
        is_demo = False
    if not is_demo:
        raise DataError(
            f"demo output folder {out} is not empty and holds no demo manifest; "
            "choose an empty or new folder"
        )
    if not overwrite:
        raise DataError(
            f"demo output folder {out} already holds demo data; "
            "pass overwrite=True (gms data demo --overwrite) to replace it"
        )


def generate_demo(
    out: str | Path,
    *,
    seed: int = 0,
    scale: str | DemoScale = "small",
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """Into ``out`` (new, empty, or a previous demo with ``overwrite``), staged; its manifest."""
    if isinstance(scale, str):
        if scale not in DEMO_SCALES:
            raise ConfigError(f"unknown demo scale {scale!r}; choose one of {list(DEMO_SCALES)}")
        scale_name, spec = scale, DEMO_SCALES[scale]
    else:
        scale_name, spec = "custom", scale
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    out = Path(out).resolve()
    _check_destination(out, overwrite)
    malsd = 2 * (spec.malsd_train_per_class + spec.malsd_test_per_class)
    total = spec.coco_images + malsd + spec.unlabeled_images
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with staged_folder(out) as staged:
        _write_coco(staged, seed, spec, tick)
        _write_unlabeled(staged, seed, spec, tick)
        _write_malsd(staged, seed, spec, tick)
        meta = {
            "format": DEMO_FORMAT,
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "scale": scale_name,
            "scale_spec": asdict(spec),
        }
        write_manifest(staged, meta)
    return out / MANIFEST_NAME


def demo_paths(root: str | Path) -> dict[str, Path]:
    root = Path(root)
    return {
        "coco_annotations": root / "coco" / "annotations" / "instances.json",
        "coco_images": root / "coco" / "images",
        "unlabeled": root / "unlabeled",
        "malsd": root / "malsd",
    }
