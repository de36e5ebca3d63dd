"""Which arms train together: grouping by data recipe, memory estimates, packing onto devices."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gms_models.errors import ConfigError
from gms_models.registry import build_encoder
from gms_models.train import (
    DeviceInfo,
    DistillConfig,
    detect_devices,
    estimate_stream_memory,
    estimate_student_memory,
    group_by_recipe,
    pack_groups,
    split_to_fit,
)


def _config(name: str, arch: str = "gmf_2282", **overrides: object) -> DistillConfig:
    values: dict[str, object] = {
        "name": name,
        "arch": arch,
        "images": Path("images"),
        "teacher": Path("teacher.pt"),
        "img_size": 128,
        "batch_size": 2,
        "epochs": 2,
        "out_dir": Path("runs") / name,
    }
    values.update(overrides)
    return DistillConfig(**values)


def test_group_by_recipe_keeps_the_order_and_separates_differing_recipes() -> None:
    a = _config("a")
    b = _config("b", epochs=3)
    c = _config("c", arch="resnet18", lr=1e-3)  # other arch and lr: same recipe as a
    d = _config("d", seed=1)
    e = _config("e", epochs=3, optimizer="adamw")
    groups = group_by_recipe([a, b, c, d, e])
    assert [[x.run_name for x in g] for g in groups] == [["a", "c"], ["b", "e"], ["d"]]


def test_split_to_fit_is_first_fit_decreasing_within_the_capacity() -> None:
    sizes = [5, 4, 3, 3, 2, 1]
    parts = split_to_fit(sizes, 8)
    # 5 and 3 fill one part, 4 + 3 + 1 another, 2 is left for a third
    assert parts == [[0, 2], [1, 3, 5], [4]]
    assert sorted(i for part in parts for i in part) == list(range(len(sizes)))
    assert all(sum(sizes[i] for i in part) <= 8 for part in parts)
    # an item larger than the capacity goes alone; everything fits in one part when it can
    assert split_to_fit([9, 1, 2], 8) == [[0], [1, 2]]
    assert split_to_fit([1, 2, 3], 100) == [[0, 1, 2]]


def _saved_bytes_of_a_real_step(arch: str, img_size: int, batch: int) -> int:
    """Bytes autograd saves in a real CPU training step (each storage once, no parameters)."""
    torch.manual_seed(0)
    model = build_encoder(arch, img_size=img_size).train()
    images = torch.randn(batch, 3, img_size, img_size)
    targets = torch.randn(batch, 256, img_size // 16, img_size // 16)
    skip = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    skip |= {images.untyped_storage().data_ptr(), targets.untyped_storage().data_ptr()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        F.huber_loss(model(images), targets).backward()
    return sum(saved.values())


def test_meta_device_estimate_equals_what_a_real_step_saves_and_scales_with_the_batch() -> None:
    estimate = estimate_student_memory(_config("a", img_size=64, batch_size=2))
    assert estimate.activation_bytes == _saved_bytes_of_a_real_step("gmf_2282", 64, 2)
    params = sum(p.numel() for p in build_encoder("gmf_2282", img_size=64).parameters())
    assert estimate.params == params
    assert estimate.weights_bytes >= 16 * params
    double = estimate_student_memory(_config("a", img_size=64, batch_size=4))
    assert double.activation_bytes == pytest.approx(2 * estimate.activation_bytes, rel=0.02)
    assert double.weights_bytes == estimate.weights_bytes
    larger = estimate_student_memory(_config("a", img_size=128, batch_size=2))
    assert larger.activation_bytes > 3 * estimate.activation_bytes

    stream = estimate_stream_memory(_config("a", img_size=64, batch_size=2))
    teacher_params = sum(p.numel() for p in build_encoder("vit_t", img_size=64).parameters())
    assert stream.teacher_weights_bytes >= 4 * teacher_params
    assert stream.batch_bytes == 4 * (2 * 3 * 64 * 64 + 2 * 256 * 4 * 4)


def _need(configs: list[DistillConfig]) -> tuple[int, list[int]]:
    stream = estimate_stream_memory(configs[0]).total_bytes
    return stream, [estimate_student_memory(c).total_bytes for c in configs]


def test_a_group_that_does_not_fit_is_split_and_the_parts_spread_over_devices() -> None:
    group = [_config("g1"), _config("g2", lr=1e-3), _config("r", arch="resnet18")]
    stream, students = _need(group)

    roomy = DeviceInfo("cuda:0", 10 * (stream + sum(students)), "big")
    (whole,) = pack_groups([group], [roomy])
    assert whole.names == ("g1", "g2", "r") and whole.fits
    assert whole.estimated_bytes == stream + sum(students)

    # room for the stream and the two largest students, not for all three
    two = sorted(students)[1:]
    tight = DeviceInfo("cpu", stream + sum(two), "host")
    parts = pack_groups([group], [tight], headroom=1.0)
    assert len(parts) == 2 and all(p.fits for p in parts)
    assert sorted(n for p in parts for n in p.names) == ["g1", "g2", "r"]
    assert all(p.estimated_bytes <= tight.memory_bytes for p in parts)

    # two such devices: one part each
    other = DeviceInfo("cuda:1", tight.memory_bytes, "twin")
    spread = pack_groups([group], [tight, other], headroom=1.0)
    assert sorted(p.device.name for p in spread) == ["cpu", "cuda:1"]

    # a student larger than every device alone still gets a part of its own, marked
    small = DeviceInfo("cpu", stream + min(students) + 1, "host")
    alone = pack_groups([group], [small], headroom=1.0)
    assert len(alone) == 3 and [p.fits for p in alone].count(False) >= 1
    assert all(len(p.configs) == 1 for p in alone)


def test_devices_and_packing_arguments_are_checked() -> None:
    assert detect_devices("cpu", cpu_memory_bytes=3 * 2**30) == [
        DeviceInfo("cpu", 3 * 2**30, "host")
    ]
    assert DeviceInfo.cpu().memory_bytes > 0
    with pytest.raises(ConfigError, match="positive"):
        DeviceInfo.cpu(0)
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        detect_devices("tpu")
    if not torch.cuda.is_available():
        assert detect_devices() == [DeviceInfo.cpu()]
        with pytest.raises(ConfigError, match="0 CUDA devices"):
            detect_devices("cuda:0")
    with pytest.raises(ConfigError, match="at least one device"):
        pack_groups([[_config("a")]], [])
    with pytest.raises(ConfigError, match="headroom"):
        pack_groups([[_config("a")]], [DeviceInfo.cpu()], headroom=1.5)
