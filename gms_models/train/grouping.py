"""Which students train together, and on which device: grouping by data recipe
(:func:`group_by_recipe`, checked by :func:`check_group`) and packing the groups onto devices by
estimated memory (:func:`pack_groups`, first-fit decreasing; see the README's architecture notes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gms_models.errors import ConfigError
from gms_models.train.config import DATA_RECIPE_FIELDS, DistillConfig
from gms_models.train.memory import estimate_stream_memory, estimate_student_memory

GIB = 2**30


@dataclass(frozen=True)
class DeviceInfo:
    """A device students can be packed onto."""

    name: str
    """Torch device string: ``cuda:0``, ``cpu``."""
    memory_bytes: int
    """Memory the students of one part may use together (before ``headroom``)."""
    description: str = ""
    """For people: the GPU's name, or ``host``."""

    @classmethod
    def cpu(cls, memory_bytes: int | None = None) -> DeviceInfo:
        """The host; ``memory_bytes`` defaults to half of the physical memory."""
        if memory_bytes is None:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
        if memory_bytes <= 0:
            raise ConfigError(f"the CPU memory budget must be positive, got {memory_bytes}")
        return cls(name="cpu", memory_bytes=int(memory_bytes), description="host")


def detect_devices(
    requested: str = "auto", *, cpu_memory_bytes: int | None = None
) -> list[DeviceInfo]:
    """The devices to pack onto: for ``auto``, every visible CUDA device with its total memory,
    or the host when there is none (:meth:`DeviceInfo.cpu` with ``cpu_memory_bytes``); for
    ``cuda`` every CUDA device; for ``cpu`` or ``cuda:N`` that one."""
    import torch

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
    devices = []
    for index in indices:
        properties = torch.cuda.get_device_properties(index)
        devices.append(DeviceInfo(f"cuda:{index}", properties.total_memory, properties.name))
    return devices


def check_group(configs: Sequence[DistillConfig]) -> None:
    """Refuse configs that cannot share one data stream, with a :class:`ConfigError` naming the
    field and the students at fault: differing data recipes, repeated run names, or two students
    writing into one run folder."""
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
    """Configs with equal data recipes together; groups in order of first appearance, configs
    in their given order within a group."""
    groups: dict[str, list[DistillConfig]] = {}
    for config in configs:
        key = repr(sorted(config.data_recipe().items()))
        groups.setdefault(key, []).append(config)
    return list(groups.values())


@dataclass(frozen=True)
class Assignment:
    """A part of a group, to train together on ``device`` (one ``distill`` call)."""

    device: DeviceInfo
    configs: tuple[DistillConfig, ...]
    stream_bytes: int
    """The shared teacher pass and batch (estimate)."""
    student_bytes: tuple[int, ...]
    """Each student's training memory (estimate), parallel to ``configs``."""
    budget_bytes: int
    """The device's memory times the headroom."""

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
    """First-fit decreasing: the indices of ``sizes`` in parts whose sums stay within
    ``capacity``; an item larger than ``capacity`` is a part of its own. Each part lists its
    indices in ascending order; parts are ordered by their first index."""
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
    """Split ``groups`` (from :func:`group_by_recipe`) into parts whose stream plus students fit
    a device's memory times ``headroom`` (:func:`split_to_fit`, so each group pays as few teacher
    passes as the rule finds), and give each part, heaviest first, to the device with the least
    work (students + 1 per part) among those that hold it; a student too large for every device
    gets a part of its own on the largest, marked ``fits=False``. Assignments come in group
    order, the parts of a group in the order of their first config."""
    if not devices:
        raise ConfigError("packing needs at least one device")
    if not 0 < headroom <= 1:
        raise ConfigError(f"headroom must be in (0, 1], got {headroom}")
    budgets = {d.name: int(d.memory_bytes * headroom) for d in devices}
    largest = max(devices, key=lambda d: d.memory_bytes)
    parts: list[tuple[DistillConfig, ...]] = []
    streams: list[int] = []
    sizes: list[tuple[int, ...]] = []
    for group in groups:
        if not group:
            continue
        stream = estimate_stream_memory(group[0]).total_bytes
        students = [estimate_student_memory(c).total_bytes for c in group]
        for part in split_to_fit(students, budgets[largest.name] - stream):
            parts.append(tuple(group[i] for i in part))
            streams.append(stream)
            sizes.append(tuple(students[i] for i in part))

    load = {d.name: 0 for d in devices}
    chosen: dict[int, DeviceInfo] = {}
    for index in sorted(range(len(parts)), key=lambda i: -(streams[i] + sum(sizes[i]))):
        need = streams[index] + sum(sizes[index])
        fitting = [d for d in devices if need <= budgets[d.name]]
        device = min(fitting, key=lambda d: load[d.name]) if fitting else largest
        load[device.name] += len(parts[index]) + 1
        chosen[index] = device
    return [
        Assignment(
            device=chosen[i],
            configs=parts[i],
            stream_bytes=streams[i],
            student_bytes=sizes[i],
            budget_bytes=budgets[chosen[i].name],
        )
        for i in range(len(parts))
    ]
