"""One student under distillation, so that one loop drives any number of them over one stream."""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from gms_models.checkpoint import (
    STATE_FILE,
    STATE_FORMAT,
    STUDENT_FILE,
    read_checkpoint,
    save_checkpoint,
    save_student,
)
from gms_models.errors import CheckpointError, ConfigError, GmsError
from gms_models.files import atomic_write_text, remove_stale_temps
from gms_models.tables import grid_cell, new_figure, save_figure
from gms_models.train.config import DistillConfig
from gms_models.train.rng import TorchRngStream

log = logging.getLogger(__name__)

HUBER_DELTA = 1.0
FAILURE_FILE = "failure.json"
FEATURES_DIR = "features"

Probe = tuple[torch.Tensor, torch.Tensor, list[int]]
"""The feature pictures' student input, its teacher features and the channels shown."""


@dataclass(eq=False)
class NonFiniteLossError(GmsError):
    student: str
    value: float
    epoch: int
    step: int
    global_step: int
    checkpoint: Path | None
    last_good_epoch: int

    def __str__(self) -> str:
        kept = (
            f"the last good checkpoint {self.checkpoint} (after epoch {self.last_good_epoch}) "
            "is kept"
            if self.checkpoint is not None
            else "no checkpoint had been written yet"
        )
        return (
            f"non-finite loss ({self.value}) for student {self.student!r} at epoch {self.epoch}, "
            f"step {self.step} (global step {self.global_step}); training of {self.student!r} "
            f"stopped and {kept}. Lower the learning rate, enable grad_clip, or check the input "
            "images."
        )

    def to_record(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "value": repr(self.value),
            "checkpoint": str(self.checkpoint) if self.checkpoint is not None else None,
            "message": str(self),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NonFiniteLossError:
        ints = {k: int(record[k]) for k in ("epoch", "step", "global_step", "last_good_epoch")}
        checkpoint = Path(record["checkpoint"]) if record["checkpoint"] is not None else None
        return cls(
            student=record["student"], value=float(record["value"]), checkpoint=checkpoint, **ints
        )


def resolve_amp(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None: fp32). AMP is a CUDA-only feature."""
    if device.type != "cuda":
        if choice in ("bf16", "fp16"):
            log.warning("amp=%s is ignored on %s: training in fp32", choice, device)
        return None
    if choice == "off":
        return None
    if choice == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[choice]


def lr_factor(
    *, warmup_steps: int, total_steps: int, schedule: str, min_ratio: float
) -> Callable[[int], float]:
    """Base-lr multiplier: linear warm-up, then constant (the paper) or cosine to min_ratio."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        decay_steps = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(
    optimizer: Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    schedule: str,
    base_lr: float,
    min_lr: float,
) -> LambdaLR:
    """Stepped per optimiser step; its step count is checkpointed, its shape is the config's."""
    return LambdaLR(
        optimizer,
        lr_factor(
            warmup_steps=warmup_steps,
            total_steps=total_steps,
            schedule=schedule,
            min_ratio=min_lr / base_lr,
        ),
    )


def save_feature_picture(
    teacher_features: torch.Tensor,
    student_features: torch.Tensor,
    dest: str | Path,
    *,
    channels: Sequence[int],
    title: str,
) -> Path:
    """The paper's Figure 2: ``channels`` of both (C,h,w) maps, teacher on top, in its range."""
    teacher = teacher_features.detach().float().cpu()
    student = student_features.detach().float().cpu()
    figure = new_figure(2.0 * len(channels) + 0.6, 4.4, dpi=100)
    axes = figure.subplots(2, len(channels), squeeze=False)
    for col, channel in enumerate(channels):
        low, high = float(teacher[channel].min()), float(teacher[channel].max())
        for row, (label, maps) in enumerate((("teacher", teacher), ("student", student))):
            grid_cell(
                axes[row][col],
                maps[channel].numpy(),
                f"channel {channel}" if row == 0 else None,
                label if col == 0 else None,
                (low, high),
            )
    figure.suptitle(title, fontsize=10)
    return save_figure(figure, dest)


class StudentRun:
    """Built under ``torch.manual_seed(config.seed)`` with a private torch RNG stream. Losses stay
    on the device; :meth:`report` is the only host sync and records a NaN/inf (``failure.json``)."""

    def __init__(
        self, config: DistillConfig, *, device: torch.device, steps_per_epoch: int
    ) -> None:
        from gms_models.registry import build_encoder

        self.config = config
        self.name = config.run_name
        self.arch = config.arch
        self.img_size = config.img_size
        self.device = device
        self.out_dir = config.resolved_out_dir
        self.state_path = self.out_dir / STATE_FILE
        self.student_path = self.out_dir / STUDENT_FILE
        self.failure_path = self.out_dir / FAILURE_FILE
        torch.manual_seed(config.seed)
        self.channels_last = config.channels_last_on(device.type)
        model = build_encoder(config.arch, img_size=config.img_size).to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.train()
        optimizer_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = optimizer_cls(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.scheduler = build_scheduler(
            self.optimizer,
            warmup_steps=config.warmup_steps,
            total_steps=config.epochs * steps_per_epoch,
            schedule=config.schedule,
            base_lr=config.lr,
            min_lr=config.min_lr,
        )
        self.amp_dtype = resolve_amp(config.amp, device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.rng = TorchRngStream()
        self.epochs_done = 0
        self.global_step = 0
        self.images_seen = 0
        self.loss_history: list[float] = []
        self.feature_pictures: list[Path] = []
        self.failure: NonFiniteLossError | None = None
        self.stream_rng: dict[str, Any] | None = None
        self._losses = torch.zeros(0, device=device)
        self._reported = 0

    def restore(self) -> None:
        """Load ``last.pt`` when resuming (other settings refused, unless retrying a failure or with
        ``resume_with_changes``); a failure recorded with the same settings is not trained again."""
        for folder in (self.out_dir, self.out_dir / FEATURES_DIR):
            remove_stale_temps(folder)
        if not self.config.resume:
            self.failure_path.unlink(missing_ok=True)
            return
        if self.state_path.is_file():
            payload = self._load_state()
            conflicts = self.config.resume_conflicts(payload.get("config", {}), self.epochs_done)
            if conflicts and not (self.config.resume_with_changes or self.failure_path.is_file()):
                raise ConfigError(
                    f"cannot resume {self.state_path}: it was trained with other settings "
                    f"({'; '.join(conflicts)}), so the result would not be an uninterrupted run's. "
                    "Resume with the checkpoint's values, choose another out_dir (--out), or set "
                    "resume_with_changes to continue it anyway"
                )
        self.failure = self._recorded_failure()

    def _load_state(self) -> dict[str, Any]:
        payload = read_checkpoint(self.state_path)
        if payload.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{self.state_path} is not a gms training-state checkpoint")
        if payload["arch"] != self.arch:
            raise CheckpointError(
                f"cannot resume: {self.state_path} holds a {payload['arch']!r} student, "
                f"but this run trains {self.arch!r}"
            )
        if int(payload["img_size"]) != self.img_size:
            raise CheckpointError(
                f"cannot resume: {self.state_path} was trained at img_size {payload['img_size']}, "
                f"this run uses {self.img_size}"
            )
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self._apply_hyperparameters()
        if self.scaler is not None and payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        # older checkpoints lack a private stream: their student drew from the global torch RNG
        self.rng.load(payload["rng"].get("student", payload["rng"]["global"]))
        self.stream_rng = {"global": payload["rng"]["global"], "loader": payload["rng"]["loader"]}
        self.epochs_done = int(payload["epoch"])
        self.global_step = int(payload["step"])
        self.images_seen = int(payload["images_seen"])
        self.loss_history = [float(v) for v in payload["loss_history"]]
        self.feature_pictures = [Path(p) for p in payload["feature_pictures"]]
        log.info("resuming %s from %s after epoch %d", self.name, self.state_path, self.epochs_done)
        return payload

    def _apply_hyperparameters(self) -> None:
        """The config's lr and weight decay over the loaded optimiser's (a retry changes them)."""
        factor = self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
        for group in self.optimizer.param_groups:
            group["initial_lr"] = self.config.lr
            group["lr"] = self.config.lr * factor
            group["weight_decay"] = self.config.weight_decay
        self.scheduler.base_lrs = [self.config.lr] * len(self.optimizer.param_groups)

    def _recorded_failure(self) -> NonFiniteLossError | None:
        if not self.failure_path.is_file():
            return None
        try:
            record = json.loads(self.failure_path.read_text())
            failure = NonFiniteLossError.from_record(record)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"cannot read the failure record {self.failure_path}: {exc}"
            ) from exc
        if record.get("settings") != self.config.trajectory_settings():
            log.info(
                "%s: the settings changed since the failure recorded in %s; training it again "
                "from its last good checkpoint",
                self.name,
                self.failure_path,
            )
            self.failure_path.unlink()
            return None
        log.warning("%s failed in an earlier run and is not trained again: %s", self.name, failure)
        return failure

    def begin_epoch(self, steps: int) -> None:
        self._losses = torch.zeros(steps, device=self.device)
        self._reported = 0

    def prepare_input(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def train_step(self, images: torch.Tensor, targets: torch.Tensor, index: int) -> None:
        with self.rng:
            with self._autocast():
                output = self.model(self.prepare_input(images))
            loss = F.huber_loss(output.float(), targets, delta=HUBER_DELTA)
            self.optimizer.zero_grad(set_to_none=True)
            scaler = self.scaler
            (loss if scaler is None else scaler.scale(loss)).backward()
            if self.config.grad_clip is not None:
                if scaler is not None:
                    scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            if scaler is None:
                self.optimizer.step()
            else:
                scaler.step(self.optimizer)
                scaler.update()
            self.scheduler.step()
        self._losses[index] = loss.detach()
        self.global_step += 1

    def report(self, upto: int, epoch: int) -> float:
        """Mean loss since the last report; a NaN/inf raises :class:`NonFiniteLossError`."""
        values: list[float] = self._losses[self._reported : upto].tolist()
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                step = self._reported + offset + 1
                self.failure = NonFiniteLossError(
                    student=self.name,
                    value=value,
                    epoch=epoch,
                    step=step,
                    global_step=self.global_step - (upto - step),
                    checkpoint=self.state_path if self.state_path.is_file() else None,
                    last_good_epoch=self.epochs_done,
                )
                record = {**self.failure.to_record(), "settings": self.config.trajectory_settings()}
                atomic_write_text(self.failure_path, json.dumps(record, indent=2) + "\n")
                raise self.failure
        self._reported = upto
        return sum(values) / max(1, len(values))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        try:
            with torch.no_grad(), self._autocast():
                features: torch.Tensor = self.model(self.prepare_input(images.to(self.device)))
                return features.float()
        finally:
            self.model.train()

    def end_epoch(
        self,
        epoch: int,
        *,
        images: int,
        epoch_time: float,
        stream_rng: dict[str, Any],
        probe: Probe,
    ) -> tuple[dict[str, float], dict[str, Path]]:
        """Close 1-based ``epoch``: picture, checkpoints, the callbacks' metrics and artifacts."""
        mean_loss = float(self._losses.mean())
        self.loss_history.append(mean_loss)
        self.epochs_done = epoch
        self.images_seen += images
        probe_images, probe_teacher, channels = probe
        picture = save_feature_picture(
            probe_teacher[0],
            self.features(probe_images)[0],
            self.out_dir / FEATURES_DIR / f"epoch_{epoch:03d}.png",
            channels=channels,
            title=f"{self.name}, epoch {epoch}: teacher (top) vs student (bottom)",
        )
        self.feature_pictures.append(picture)
        self._save(stream_rng)
        metrics = {
            "loss": mean_loss,
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "epoch_time_s": epoch_time,
            "images_per_s": images / max(epoch_time, 1e-9),
            "images_seen": float(self.images_seen),
        }
        artifacts = {
            "checkpoint": self.state_path,
            "student": self.student_path,
            "features": picture,
        }
        return metrics, artifacts

    def _save(self, stream_rng: dict[str, Any]) -> None:
        student: dict[str, Any] = {
            "arch": self.arch,
            "img_size": self.img_size,
            "state_dict": self.model.state_dict(),
            "config": self.config.model_dump(mode="json"),
        }
        save_checkpoint(
            self.state_path,
            {
                "format": STATE_FORMAT,
                **student,
                "epoch": self.epochs_done,
                "step": self.global_step,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "rng": {**stream_rng, "student": self.rng.state()},
                "loss_history": list(self.loss_history),
                "images_seen": self.images_seen,
                "feature_pictures": [str(p) for p in self.feature_pictures],
            },
        )
        save_student(self.student_path, **student)
