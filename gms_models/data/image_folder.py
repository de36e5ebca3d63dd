"""Unlabeled images for decoupled distillation, with the nanosam transform.

Every ``.jpg``/``.jpeg``/``.png`` under a folder (recursive, sorted by relative path) is one item.
Item ``i`` in epoch ``e`` is a RandomResizedCrop of image ``i`` drawn from ``(seed, e, i)`` (see
:mod:`gms_models.data.transforms`), resized to the teacher size and SAM-normalised; the student
input is the same crop resized to the student size. With ``fixed_crops=True`` the crop ignores the
epoch, so a teacher-feature cache filled in epoch 0 stays valid. Call :meth:`set_epoch` before
iterating each epoch; DataLoader workers copy the dataset when an iterator is created, so with
``persistent_workers=True`` the epoch would stay at its first value (use :meth:`sample` with an
explicit epoch, or non-persistent workers).

Unreadable images follow ``on_error``: ``"fail"`` raises :class:`ImageError` naming the file;
``"skip"`` logs a warning, records ``BadImage(path, reason)`` in :attr:`ImageFolderDataset.skipped`
and serves the next readable image (in folder order) in its place, with the crop of the requested
index, so the epoch length and the crops stay deterministic. Records made inside DataLoader worker
processes stay in those processes (the warning is still logged): pass ``validate=True`` to decode
every image up front and get the complete list in the main process.
"""

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
    CropBox,
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
    """One training item. ``default_collate`` batches it into a ``DistillSample`` of tensors."""

    teacher: torch.Tensor
    """(3, T, T) float32, SAM-normalised crop at the teacher size."""
    student: torch.Tensor
    """(3, S, S) float32, the same crop at the student size (the same tensor when S == T)."""
    index: int  # type: ignore[assignment]  # shadows tuple.index; callers use the name
    """Dataset index of the item (key for a teacher-feature cache); a tensor after collation."""


class ImageFolderDataset(Dataset[DistillSample]):
    """Unlabeled image folder → :class:`DistillSample` items (see the module docstring).

    Args:
        root: folder searched recursively for ``.jpg``, ``.jpeg`` and ``.png`` files.
        teacher_size: side of the square teacher input (1024 for SAM).
        student_size: side of the square student input; ``None`` means ``teacher_size``.
        seed: base seed of the crops.
        fixed_crops: the crop of an image is the same in every epoch.
        on_error: ``"fail"`` or ``"skip"`` for unreadable images.
        validate: decode every image now; bad ones raise (``"fail"``) or are recorded in
            :attr:`skipped` and left out (``"skip"``).
        strict: refuse non-RGB images instead of converting them.
        crop_scale, crop_ratio: RandomResizedCrop's area-fraction and aspect-ratio ranges.
    """

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
        crop_scale: tuple[float, float] = DEFAULT_CROP_SCALE,
        crop_ratio: tuple[float, float] = DEFAULT_CROP_RATIO,
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
        self.crop_scale = crop_scale
        self.crop_ratio = crop_ratio
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
        """Select the crops of ``epoch`` (ignored with ``fixed_crops``)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def crop_box(self, index: int, width: int, height: int, epoch: int | None = None) -> CropBox:
        """The crop of item ``index`` in ``epoch`` (default: the current one) for a W×H image."""
        epoch = self.epoch if epoch is None else epoch
        rng = crop_rng(self.seed, 0 if self.fixed_crops else epoch, index)
        return sample_crop(width, height, rng, scale=self.crop_scale, ratio=self.crop_ratio)

    def sample(self, index: int, epoch: int | None = None) -> DistillSample:
        """Item ``index`` as it is in ``epoch`` (default: the current one)."""
        if not 0 <= index < len(self.paths):
            raise IndexError(f"index {index} out of range for {len(self.paths)} images")
        image = Image.fromarray(self._load_readable(index))
        box = self.crop_box(index, image.width, image.height, epoch)
        teacher = sam_normalize(resized_crop(image, box, self.teacher_size))
        if self.student_size == self.teacher_size:
            student = teacher
        else:
            student = sam_normalize(resized_crop(image, box, self.student_size))
        return DistillSample(teacher=teacher, student=student, index=index)

    def __getitem__(self, index: int) -> DistillSample:
        return self.sample(index)

    def _load_readable(self, index: int) -> np.ndarray:
        """Decode image ``index`` (under ``"skip"``: the next readable one if it is bad)."""
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
