"""Which students train together, and where: grouped by data recipe, packed by memory estimated on
PyTorch's ``meta`` device (README: Packing by memory)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gms_models.errors import ConfigError
from gms_models.geometry import EMBED_DIM, PATCH_STRIDE
from gms_models.train.config import DATA_RECIPE_FIELDS, DistillConfig

#: fp32 weights + fp32 gradients + Adam/AdamW's two fp32 moments.
TRAINING_BYTES_PER_PARAM = 16
FP32 = 4
TEACHER_ARCH = "vit_t"


@dataclass(frozen=True)
class StudentMemory:
    """One student in training: weights, buffers, the tensors autograd saves (counted in fp32, an
    upper bound under autocast) and twice the largest of them for the backward peak."""

    params: int
    weights_bytes: int
    activation_bytes: int
    transient_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes + self.transient_bytes


@dataclass(frozen=True)
class StreamMemory:
    """The stream a group shares: the teacher's weights, three times its largest intermediate and
    the batch (the CUDA context and fragmentation are left to the packer's headroom)."""

    teacher_weights_bytes: int
    teacher_working_bytes: int
    batch_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.teacher_weights_bytes + self.teacher_working_bytes + self.batch_bytes


def estimate_student_memory(config: DistillConfig) -> StudentMemory:
    return _student_memory(config.arch, config.img_size, config.batch_size)


def estimate_stream_memory(config: DistillConfig) -> StreamMemory:
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


@dataclass(frozen=True)
class DeviceInfo:
    """``memory_bytes``: what one part's students may use together (before ``headroom``)."""

    name: str
    memory_bytes: int
    description: str = ""

    @classmethod
    def cpu(cls, memory_bytes: int | None = None) -> DeviceInfo:
        """The host; ``memory_bytes`` defaults to half the physical memory."""
        if memory_bytes is None:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
        if memory_bytes <= 0:
            raise ConfigError(f"the CPU memory budget must be positive, got {memory_bytes}")
        return cls(name="cpu", memory_bytes=int(memory_bytes), description="host")


def detect_devices(
    requested: str = "auto", *, cpu_memory_bytes: int | None = None
) -> list[DeviceInfo]:
    """``auto``: every visible CUDA device, else the host; ``cuda``: every CUDA device."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return [DeviceInfo.cpu(cpu_memory_bytes)]
    if requested in ("auto", "cuda"):
        indices = list(range(torch.cuda.device_count()))
    elif requested.startswith("cuda:") and requested[5:].isdigit():
        indices = [int(requested[5:])]
    else:
        raise ConfigError(f"unknown device {requested!r}: use auto, cpu, cuda or cuda:N")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not indices or any(i >= count for i in indices):
        raise ConfigError(f"device {requested!r} asked for, but {count} CUDA devices are visible")
    properties = {i: torch.cuda.get_device_properties(i) for i in indices}
    return [DeviceInfo(f"cuda:{i}", p.total_memory, p.name) for i, p in properties.items()]


def check_group(configs: Sequence[DistillConfig]) -> None:
    """Refuse configs that cannot share a stream (data recipe, run names, run folders)."""
    if not configs:
        raise ConfigError("a distillation group needs at least one config")
    first, mine = configs[0], configs[0].data_recipe()
    for other in configs[1:]:
        theirs = other.data_recipe()
        differing = [field for field in DATA_RECIPE_FIELDS if mine[field] != theirs[field]]
        if differing:
            details = "; ".join(
                f"{field}: {mine[field]!r} for {first.run_name!r} but {theirs[field]!r} for "
                f"{other.run_name!r}"
                for field in differing
            )
            raise ConfigError(
                f"students trained together must share the data recipe; {details} "
                "(group_by_recipe splits configs into groups that do)"
            )
    names = [c.run_name for c in configs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(
            f"students trained together need unique run names; {repeated} appear more than "
            "once (give each config a name, e.g. gmf_2282-lr1e-3)"
        )
    folders: dict[Path, str] = {}
    for config in configs:
        folder = config.resolved_out_dir.resolve()
        if folder in folders:
            raise ConfigError(
                f"students {folders[folder]!r} and {config.run_name!r} would both write into "
                f"out_dir {config.resolved_out_dir}"
            )
        folders[folder] = config.run_name


def group_by_recipe(configs: Sequence[DistillConfig]) -> list[list[DistillConfig]]:
    groups: dict[str, list[DistillConfig]] = {}
    for config in configs:
        key = repr(sorted(config.data_recipe().items()))
        groups.setdefault(key, []).append(config)
    return list(groups.values())


@dataclass(frozen=True)
class Assignment:
    """A part of a group, to train together on ``device`` (one ``distill`` call); estimates."""

    device: DeviceInfo
    configs: tuple[DistillConfig, ...]
    stream_bytes: int
    student_bytes: tuple[int, ...]
    budget_bytes: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.run_name for c in self.configs)

    @property
    def estimated_bytes(self) -> int:
        return self.stream_bytes + sum(self.student_bytes)

    @property
    def fits(self) -> bool:
        return self.estimated_bytes <= self.budget_bytes


def split_to_fit(sizes: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing into parts within ``capacity``; indices ascending, parts by first."""
    parts: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        for part, free in enumerate(room):
            if sizes[index] <= free:
                parts[part].append(index)
                room[part] -= sizes[index]
                break
        else:
            parts.append([index])
            room.append(capacity - sizes[index])
    return sorted((sorted(part) for part in parts), key=lambda part: part[0])


def pack_groups(
    groups: Sequence[Sequence[DistillConfig]],
    devices: Sequence[DeviceInfo],
    *,
    headroom: float = 0.9,
) -> list[Assignment]:
    """Parts of ``groups`` that fit a device's memory × ``headroom``, heaviest first to the least
    loaded device (students + 1 per part) that holds it, else the largest (``fits=False``)."""
    if not devices:
        raise ConfigError("packing needs at least one device")
    if not 0 < headroom <= 1:
        raise ConfigError(f"headroom must be in (0, 1], got {headroom}")
    budgets = {d.name: int(d.memory_bytes * headroom) for d in devices}
    largest = max(devices, key=lambda d: d.memory_bytes)
    parts: list[tuple[tuple[DistillConfig, ...], int, tuple[int, ...]]] = []
    for group in groups:
        if not group:
            continue
        stream = estimate_stream_memory(group[0]).total_bytes
        students = [estimate_student_memory(c).total_bytes for c in group]
        for part in split_to_fit(students, budgets[largest.name] - stream):
            parts.append((tuple(group[i] for i in part), stream, tuple(students[i] for i in part)))

    load = {d.name: 0 for d in devices}
    assignments: dict[int, Assignment] = {}
    for index in sorted(range(len(parts)), key=lambda i: -(parts[i][1] + sum(parts[i][2]))):
        configs, stream, sizes = parts[index]
        fitting = [d for d in devices if stream + sum(sizes) <= budgets[d.name]]
        device = min(fitting, key=lambda d: load[d.name]) if fitting else largest
        load[device.name] += len(configs) + 1
        assignments[index] = Assignment(device, configs, stream, sizes, budgets[device.name])
    return [assignments[i] for i in range(len(parts))]
