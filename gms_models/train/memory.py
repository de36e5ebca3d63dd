"""How much device memory a student (and the shared data stream) needs while distilling, for
packing students onto devices (:mod:`gms_models.train.grouping`).

The model runs once on PyTorch's ``meta`` device (shapes only, no data, about a second at 1024
pixels): weights at 16 bytes per parameter plus buffers, the tensors autograd saves (counted in
fp32, so an upper bound under autocast) and twice the largest of them for the backward peak. The
stream is the teacher's weights and three times its largest intermediate, plus the batch. The
CUDA context and allocator fragmentation are left to the packer's headroom.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gms_models.errors import ConfigError
from gms_models.geometry import EMBED_DIM, PATCH_STRIDE
from gms_models.train.config import DistillConfig

#: fp32 weights + fp32 gradients + Adam/AdamW's two fp32 moments.
TRAINING_BYTES_PER_PARAM = 16
FP32 = 4
TEACHER_ARCH = "vit_t"


@dataclass(frozen=True)
class StudentMemory:
    """Estimated device memory of one student in training (see the module docstring)."""

    params: int
    weights_bytes: int
    activation_bytes: int
    transient_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes + self.transient_bytes


@dataclass(frozen=True)
class StreamMemory:
    """Estimated device memory of the data stream a group shares (see the module docstring)."""

    teacher_weights_bytes: int
    teacher_working_bytes: int
    batch_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.teacher_weights_bytes + self.teacher_working_bytes + self.batch_bytes


def estimate_student_memory(config: DistillConfig) -> StudentMemory:
    """The training memory of ``config``'s student at its img_size and batch size."""
    return _student_memory(config.arch, config.img_size, config.batch_size)


def estimate_stream_memory(config: DistillConfig) -> StreamMemory:
    """The memory of the teacher pass and the batch shared by ``config``'s group."""
    return _stream_memory(config.teacher_size, config.img_size, config.batch_size)


def _meta_model(arch: str, img_size: int) -> nn.Module:
    from gms_models.registry import build_encoder

    try:
        with torch.device("meta"):
            return build_encoder(arch, img_size=img_size)
    except (RuntimeError, NotImplementedError) as exc:
        raise ConfigError(
            f"cannot estimate the memory of encoder {arch!r}: it does not build on the meta "
            f"device ({exc})"
        ) from exc


def _storage_id(tensor: torch.Tensor) -> int:
    return int(tensor.untyped_storage()._cdata)


@functools.lru_cache(maxsize=64)
def _student_memory(arch: str, img_size: int, batch_size: int) -> StudentMemory:
    model = _meta_model(arch, img_size).train()
    tensors = [*model.parameters(), *model.buffers()]
    params = sum(p.numel() for p in model.parameters())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    excluded = {_storage_id(t) for t in tensors}
    images = torch.empty(batch_size, 3, img_size, img_size, device="meta")
    side = img_size // PATCH_STRIDE
    targets = torch.empty(batch_size, EMBED_DIM, side, side, device="meta")
    excluded |= {_storage_id(images), _storage_id(targets)}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = _storage_id(tensor)
        if key not in excluded:
            saved[key] = tensor.untyped_storage().nbytes()  # the meta model runs in fp32
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        F.huber_loss(model(images).float(), targets, delta=1.0)
    activation = sum(saved.values())
    return StudentMemory(
        params=params,
        weights_bytes=params * TRAINING_BYTES_PER_PARAM + buffer_bytes,
        activation_bytes=activation,
        transient_bytes=2 * max(saved.values(), default=0),
    )


@functools.lru_cache(maxsize=16)
def _stream_memory(teacher_size: int, student_size: int, batch_size: int) -> StreamMemory:
    model = _meta_model(TEACHER_ARCH, teacher_size).eval()
    weights = sum(t.numel() * FP32 for t in [*model.parameters(), *model.buffers()])
    largest = 0

    def record(module: nn.Module, inputs: object, output: object) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel() * FP32)

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(torch.empty(batch_size, 3, teacher_size, teacher_size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    side = teacher_size // PATCH_STRIDE
    crops = batch_size * 3 * teacher_size**2
    if student_size != teacher_size:
        crops += batch_size * 3 * student_size**2
    targets = batch_size * EMBED_DIM * side * side
    return StreamMemory(
        teacher_weights_bytes=weights,
        teacher_working_bytes=3 * largest,
        batch_bytes=(crops + targets) * FP32,
    )
