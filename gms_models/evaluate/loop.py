"""The per-image loop both evaluations share (one embedding per image and model) and eval_mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from rich.console import Console
from rich.progress import Progress, TextColumn
from torch import nn

from gms_models.data.scan import ProgressFn
from gms_models.progress import bar_columns
from gms_models.sam.predictor import SamPredictor
from gms_models.sam.sam import Sam

Item = TypeVar("Item")
Work = TypeVar("Work")


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """A student fresh from training would use batch statistics in BatchNorm; restored after."""
    before = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        yield
    finally:
        for m, training in zip(models, before, strict=True):
            m.train(training)


def score_images(
    models: Sequence[Sam],
    items: Sequence[Item],
    load: Callable[[Item], tuple[np.ndarray, Work] | None],
    decode: Callable[[Work, list[SamPredictor]], np.ndarray],
    description: str,
    *,
    show: bool,
    callback: ProgressFn | None,
) -> tuple[int, float, dict[str, float]]:
    """``load(item)`` gives an image and what ``decode(work, predictors)`` needs (None: no prompt),
    which returns the IoUs. Returns the images with a prompt, wall time and seconds per phase."""
    started = time.perf_counter()
    predictors = [SamPredictor(model) for model in models]
    timings = {"load": 0.0, "encode": 0.0, "decode": 0.0}
    images, prompts, iou_sum = 0, 0, 0.0
    bar = Progress(
        *bar_columns(TextColumn("{task.fields[miou]}")),
        console=Console(stderr=True),
        disable=not show,
    )
    task = bar.add_task(description, total=len(items), miou="")
    with eval_mode(*models), bar:
        for done, item in enumerate(items, start=1):
            t0 = time.perf_counter()
            loaded = load(item)
            t1 = time.perf_counter()
            timings["load"] += t1 - t0
            if loaded is not None:
                rgb, work = loaded
                for predictor in predictors:
                    predictor.set_image(rgb)
                t2 = time.perf_counter()
                ious = decode(work, predictors)
                timings["encode"] += t2 - t1
                timings["decode"] += time.perf_counter() - t2
                images += 1
                prompts += len(ious)
                iou_sum += float(ious.sum())
            shown = f"mIoU {iou_sum / prompts:.4f}" if prompts else ""
            bar.update(task, advance=1, miou=shown)
            if callback is not None:
                callback(done, len(items))
    return images, time.perf_counter() - started, timings
