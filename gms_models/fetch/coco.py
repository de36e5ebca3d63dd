"""Import COCO 2017 from its official zips, downloaded into a cache, verified, extracted staged. A
split's limit keeps its first N images by name, yet the whole zip is fetched for its checksum."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.progress import Progress

from gms_models.download import download_file
from gms_models.errors import ConfigError, DataError, DownloadError, validate
from gms_models.files import default_cache_dir, ensure_replaceable, staged_folder
from gms_models.train.config import read_yaml_mapping

COCO_SPLITS = ("train2017", "val2017")
_CHUNK = 1 << 20


class CocoArchive(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    size: int | None = Field(default=None, gt=0)
    md5: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _has_checksum(self) -> CocoArchive:
        if self.md5 is None and self.sha256 is None:
            raise ValueError(f"archive {self.path} needs an md5 or a sha256 to be verified")
        return self

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class CocoManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "http://images.cocodataset.org"
    train2017: CocoArchive
    val2017: CocoArchive
    annotations: CocoArchive

    def url(self, archive: CocoArchive) -> str:
        return f"{self.base_url.rstrip('/')}/{archive.path.lstrip('/')}"


# as published alongside many COCO loaders (PaddleDetection, ...), unchanged since 2017
OFFICIAL_MANIFEST = CocoManifest(
    train2017=CocoArchive(
        path="zips/train2017.zip", size=19_336_861_798, md5="cced6f7f71b7629ddf16f17bbcfab6b2"
    ),
    val2017=CocoArchive(
        path="zips/val2017.zip", size=815_585_330, md5="442b8da7639aecaf257c1dceb8ba8c80"
    ),
    annotations=CocoArchive(
        path="annotations/annotations_trainval2017.zip",
        size=252_907_541,
        md5="f4bbac642086de4f52a3fdda2de5fa2c",
    ),
)


@dataclass(frozen=True)
class CocoImport:
    root: Path
    images: dict[str, int]
    annotations: dict[str, Path]


def load_manifest(path: Path) -> CocoManifest:
    return validate(CocoManifest, read_yaml_mapping(Path(path)), f"COCO manifest {path}")


def verify_archive(path: Path, archive: CocoArchive, url: str, *, sha256_done: bool) -> None:
    """Delete the zip and raise if its size or a checksum differs."""
    problems = []
    actual_size = path.stat().st_size
    if archive.size is not None and actual_size != archive.size:
        problems.append(f"size {actual_size} bytes, expected {archive.size}")
    else:
        wanted = {"md5": archive.md5, "sha256": None if sha256_done else archive.sha256}
        for name, expected in wanted.items():
            if expected is not None:
                with open(path, "rb") as fh:
                    actual = hashlib.file_digest(fh, name).hexdigest()
                if actual != expected:
                    problems.append(f"{name} {actual}, expected {expected}")
    if problems:
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {url}: {'; '.join(problems)}; the file was deleted"
        )


def _extract_images(
    zip_path: Path, split: str, limit: int | None, out: Path, show: bool
) -> list[str]:
    """Extract ``split/*.jpg`` (the first ``limit`` by name) into ``out``; return their names."""
    prefix = f"{split}/"
    out.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as zf:
        members = {
            info.filename.removeprefix(prefix): info
            for info in zf.infolist()
            if info.filename.startswith(prefix)
            and not info.is_dir()
            and "/" not in info.filename.removeprefix(prefix)
            and info.filename.lower().endswith(".jpg")
        }
        if not members:
            raise DataError(f"{zf.filename} holds no {prefix}*.jpg images")
        names = sorted(members)[:limit]
        with Progress(transient=True, disable=not show) as bar:
            for name in bar.track(names, description=f"extracting {split}"):
                with zf.open(members[name]) as src, open(out / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
    return names


def _extract_annotations(zip_path: Path, split: str, keep: set[str] | None, out_file: Path) -> None:
    member = f"annotations/instances_{split}.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        if member not in zf.namelist():
            raise DataError(f"{zip_path} has no {member}")
        with zf.open(member) as src:
            if keep is None:
                with open(out_file, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                return
            try:
                data = json.load(src)
            except ValueError as exc:
                raise DataError(f"{member} in {zip_path} is not valid JSON: {exc}") from exc
    if not {"images", "annotations"} <= data.keys():
        raise DataError(f"{member} in {zip_path} lacks 'images' or 'annotations'")
    images = [img for img in data["images"] if img["file_name"] in keep]
    ids = {img["id"] for img in images}
    annotations = [ann for ann in data["annotations"] if ann["image_id"] in ids]
    subset = {**data, "images": images, "annotations": annotations}
    out_file.write_text(json.dumps(subset, separators=(",", ":")))


def import_coco(
    dest: Path,
    *,
    manifest: CocoManifest = OFFICIAL_MANIFEST,
    base_url: str | None = None,
    splits: Sequence[str] = COCO_SPLITS,
    train_limit: int | None = None,
    val_limit: int | None = None,
    cache_dir: Path | None = None,
    overwrite: bool = False,
    retries: int = 3,
    timeout: float = 30.0,
    progress: bool = True,
) -> CocoImport:
    """``base_url``: a mirror; the zips stay in ``cache_dir`` (default ``$GMS_CACHE/coco2017``)."""
    if not splits or not set(splits) <= set(COCO_SPLITS):
        raise ConfigError(f"splits must be a non-empty subset of {COCO_SPLITS}, got {list(splits)}")
    limits = {"train2017": train_limit, "val2017": val_limit}
    for split, limit in limits.items():
        if limit is not None and limit < 1:
            raise ConfigError(f"{split} limit must be at least 1, got {limit}")
    if base_url is not None:
        manifest = manifest.model_copy(update={"base_url": base_url})
    dest = Path(dest)
    ensure_replaceable(dest, overwrite)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "coco2017"

    def fetch(archive: CocoArchive) -> Path:
        url = manifest.url(archive)
        target = cache / archive.file_name
        if target.exists():
            try:
                verify_archive(target, archive, url, sha256_done=False)
                return target
            except DownloadError:
                pass  # a stale or damaged copy: it was deleted, fetch it again
        download_file(
            url, target, sha256=archive.sha256, retries=retries, progress=progress, timeout=timeout
        )
        verify_archive(target, archive, url, sha256_done=True)
        return target

    annotations_zip = fetch(manifest.annotations)
    image_zips = {split: fetch(getattr(manifest, split)) for split in splits}

    images: dict[str, int] = {}
    annotation_files: dict[str, Path] = {}
    with staged_folder(dest) as staging:
        for split, zip_path in image_zips.items():
            try:
                names = _extract_images(
                    zip_path, split, limits[split], staging / split, show=progress
                )
                keep = set(names) if limits[split] is not None else None
                out_file = staging / "annotations" / f"instances_{split}.json"
                _extract_annotations(annotations_zip, split, keep, out_file)
            except zipfile.BadZipFile as exc:
                raise DataError(f"corrupt zip {zip_path} or {annotations_zip}: {exc}") from exc
            images[split] = len(names)
            annotation_files[split] = dest / "annotations" / out_file.name
    return CocoImport(root=dest, images=images, annotations=annotation_files)
