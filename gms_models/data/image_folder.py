"""Unlabeled images for distillation: item ``i`` of epoch ``e`` is the nanosam crop drawn from
``(seed, e, i)``. Workers copy the dataset per iterator (``persistent_workers`` would hide
``set_epoch``). ``on_error="skip"`` replaces an unreadable image by the next readable one (same
crop); skips inside workers stay there, so ``validate=True`` decodes every image up front."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from gms_models.data.scan import (
    DATASET_IMAGE_SUFFIXES,
    BadImage,
    describe_paths,
    list_images,
    scan_images,
)
from gms_models.data.transforms import (
    DEFAULT_CROP_RATIO,
    DEFAULT_CROP_SCALE,
    crop_rng,
    resized_crop,
    sam_normalize,
    sample_crop,
)
from gms_models.errors import ConfigError, DataError, ImageError
from gms_models.image_io import load_rgb

log = logging.getLogger(__name__)

OnError = Literal["fail", "skip"]


class DistillSample(NamedTuple):
    """SAM-normalised crops (one tensor when the sizes are equal) and the feature-cache key."""

    teacher: torch.Tensor
    student: torch.Tensor
    index: int  # type: ignore[assignment]  # shadows tuple.index; callers use the name


class ImageFolderDataset(Dataset[DistillSample]):
    """The crop recipe is named here for the teacher-feature cache key."""

    crop_scale = DEFAULT_CROP_SCALE
    crop_ratio = DEFAULT_CROP_RATIO

    def __init__(
        self,
        root: str | Path,
        *,
        teacher_size: int = 1024,
        student_size: int | None = None,
        seed: int = 0,
        fixed_crops: bool = False,
        on_error: OnError = "fail",
        validate: bool = False,
        strict: bool = False,
    ) -> None:
        if on_error not in ("fail", "skip"):
            raise ConfigError(f"on_error must be 'fail' or 'skip', got {on_error!r}")
        student_size = teacher_size if student_size is None else student_size
        if teacher_size <= 0 or student_size <= 0:
            raise ConfigError(
                f"image sizes must be positive, got teacher {teacher_size}, student {student_size}"
            )
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.root = Path(root)
        self.teacher_size = teacher_size
        self.student_size = student_size
        self.seed = seed
        self.fixed_crops = fixed_crops
        self.on_error: OnError = on_error
        self.strict = strict
        self.epoch = 0
        self.skipped: list[BadImage] = []
        self._bad_indices: set[int] = set()

        paths = list_images(self.root)
        if not paths:
            raise DataError(
                f"no images ({', '.join(DATASET_IMAGE_SUFFIXES)}) under {self.root}: "
                "the folder is empty"
            )
        if validate:
            bad = scan_images(paths, strict=strict)
            if bad and on_error == "fail":
                raise ImageError(
                    f"{len(bad)} of {len(paths)} images under {self.root} are unreadable: "
                    + "; ".join(f"{b.path}: {b.reason}" for b in bad[:5])
                )
            self.skipped.extend(bad)
            bad_paths = {b.path for b in bad}
            paths = [p for p in paths if p not in bad_paths]
            if bad:
                log.warning(
                    "skipping %d unreadable images under %s: %s",
                    len(bad),
                    self.root,
                    describe_paths([b.path for b in bad]),
                )
            if not paths:
                raise DataError(f"every image under {self.root} is unreadable")
        self.paths: list[Path] = paths

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def sample(self, index: int, epoch: int | None = None) -> DistillSample:
        if not 0 <= index < len(self.paths):
            raise IndexError(f"index {index} out of range for {len(self.paths)} images")
        epoch = self.epoch if epoch is None else epoch
        rng = crop_rng(self.seed, 0 if self.fixed_crops else epoch, index)
        image = Image.fromarray(self._load_readable(index))
        box = sample_crop(image.width, image.height, rng)
        teacher = sam_normalize(resized_crop(image, box, self.teacher_size))
        if self.student_size == self.teacher_size:
            student = teacher
        else:
            student = sam_normalize(resized_crop(image, box, self.student_size))
        return DistillSample(teacher=teacher, student=student, index=index)

    def __getitem__(self, index: int) -> DistillSample:
        return self.sample(index)

    def _load_readable(self, index: int) -> np.ndarray:
        for offset in range(len(self.paths)):
            candidate = (index + offset) % len(self.paths)
            if candidate in self._bad_indices:
                continue
            path = self.paths[candidate]
            try:
                return load_rgb(path, strict=self.strict)
            except ImageError as exc:
                if self.on_error == "fail":
                    raise
                self._bad_indices.add(candidate)
                self.skipped.append(BadImage(path, str(exc)))
                log.warning(
                    "skipping unreadable image %s (%d skipped so far): %s",
                    path,
                    len(self.skipped),
                    exc,
                )
        raise DataError(f"every image under {self.root} is unreadable")
