"""Table 1 classifiers, every family under one recipe: cross-entropy, AdamW, linear warm-up then
half-cosine to zero per batch. The generators are reset to ``seed`` before each family, so its
numbers do not depend on which ran before. Bitwise repeatable on CPU."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from gms_models.classify.config import ClassifyConfig
from gms_models.classify.families import ClassifierFamily, get_family, resolve_families
from gms_models.classify.results import ClassifyCallback, EpochMetrics, FamilyResult
from gms_models.data.loader import worker_context
from gms_models.data.malsd_dataset import MalsdClassification
from gms_models.data.transforms import sam_normalize
from gms_models.profiling import profile_model
from gms_models.teacher.base import resolve_device
from gms_models.train.rng import seed_everything
from gms_models.train.student import build_scheduler

NUM_CLASSES = 2
LabelledImages = Dataset[tuple[torch.Tensor, int]]


def _augmented(ops: v2.Compose, image: Image.Image) -> torch.Tensor:
    return sam_normalize(np.asarray(ops(image)))


def _resized(img_size: int, image: Image.Image) -> torch.Tensor:
    size = (img_size, img_size)
    return sam_normalize(np.asarray(image.resize(size, Image.Resampling.BILINEAR)))


def malsd_splits(
    root: str | Path, config: ClassifyConfig
) -> tuple[MalsdClassification, MalsdClassification]:
    """The train split (augmented) and the test split (the paper's "val", resized)."""
    ops: list[v2.Transform] = [
        v2.RandomResizedCrop(config.img_size, scale=config.augment.crop_scale, antialias=True)
    ]
    if config.augment.hflip:
        ops.append(v2.RandomHorizontalFlip())
    strict = config.strict_images
    train = MalsdClassification(
        root, "train", transform=partial(_augmented, v2.Compose(ops)), strict=strict
    )
    val = MalsdClassification(
        root, "test", transform=partial(_resized, config.img_size), strict=strict
    )
    return train, val


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_kernel = isinstance(module, nn.Linear | nn.modules.conv._ConvNd)
            (decay if is_kernel and name == "weight" else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _loader(
    dataset: LabelledImages, config: ClassifyConfig, *, train: bool, device: torch.device
) -> DataLoader[tuple[torch.Tensor, int]]:
    size = len(dataset)  # type: ignore[arg-type]
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=train,
        # a last batch of one sample breaks BatchNorm in training (LeViT, CvT, GroupMixFormer)
        drop_last=train and size > 1 and size % config.batch_size == 1,
        num_workers=config.num_workers,
        multiprocessing_context=worker_context(config.num_workers),
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(config.seed),
    )


@torch.inference_mode()
def evaluate(
    model: nn.Module, loader: DataLoader[tuple[torch.Tensor, int]], device: torch.device
) -> tuple[float, float]:
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == labels).sum())
        seen += labels.numel()
    return loss_sum / seen, correct / seen


def train_family(
    family: ClassifierFamily | str,
    config: ClassifyConfig,
    train_set: LabelledImages,
    val_set: LabelledImages,
    callbacks: Sequence[ClassifyCallback] = (),
) -> FamilyResult:
    family = get_family(family) if isinstance(family, str) else family
    device = resolve_device(config.device)
    seed_everything(config.seed)
    model = family.build(config.img_size, NUM_CLASSES).to(device)
    profile = profile_model(model, config.img_size)
    train_loader = _loader(train_set, config, train=True, device=device)
    val_loader = _loader(val_set, config, train=False, device=device)
    steps_per_epoch = len(train_loader)
    optimizer = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    warmup_epochs = min(config.warmup_epochs, config.epochs - 1)  # always end with the decay
    scheduler = build_scheduler(
        optimizer,
        warmup_steps=warmup_epochs * steps_per_epoch,
        total_steps=config.epochs * steps_per_epoch,
        schedule="cosine",
        base_lr=config.lr,
        min_lr=0.0,
    )
    for cb in callbacks:
        cb.on_family_start(family, profile, config.epochs, steps_per_epoch)

    started = time.perf_counter()
    history: list[EpochMetrics] = []
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for step, (images, labels) in enumerate(train_loader, start=1):
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            batch_loss = loss.item()
            loss_sum += batch_loss * labels.numel()
            correct += int((logits.detach().argmax(dim=1) == labels).sum())
            seen += labels.numel()
            for cb in callbacks:
                cb.on_step_end(family, epoch, step, batch_loss)
        val_loss, val_acc = evaluate(model, val_loader, device)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=loss_sum / seen,
            train_acc=correct / seen,
            val_loss=val_loss,
            val_acc=val_acc,
            lr=optimizer.param_groups[0]["lr"],
            seconds=time.perf_counter() - epoch_start,
        )
        history.append(metrics)
        for cb in callbacks:
            cb.on_epoch_end(family, metrics)

    result = FamilyResult(
        family=family.name,
        slug=family.slug,
        img_size=config.img_size,
        params=profile.params_thop,
        params_true=profile.params_true,
        macs=profile.macs,
        history=tuple(history),
        train_images=len(train_set),  # type: ignore[arg-type]
        val_images=len(val_set),  # type: ignore[arg-type]
        seconds=time.perf_counter() - started,
    )
    for cb in callbacks:
        cb.on_family_end(result)
    return result


def run_family(
    malsd_root: str | Path,
    family: str,
    config: ClassifyConfig,
    callbacks: Sequence[ClassifyCallback] = (),
) -> FamilyResult:
    train_set, val_set = malsd_splits(malsd_root, config)
    return train_family(family, config, train_set, val_set, callbacks)


def run_encoder_selection(
    malsd_root: str | Path, config: ClassifyConfig, callbacks: Sequence[ClassifyCallback] = ()
) -> list[FamilyResult]:
    train_set, val_set = malsd_splits(malsd_root, config)
    return [
        train_family(family, config, train_set, val_set, callbacks)
        for family in resolve_families(config.families)
    ]
