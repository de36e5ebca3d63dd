"""Params and MACs as ``thop`` 0.1.1 counted the paper's columns (thop needs distutils, gone in
3.12). As thop: only leaf modules count (a parameter of a module with children, e.g. a position
map, is not in ``params_thop``), rules by exact type, functional ops and other modules 0 MACs."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

_MacRule = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]


def _conv(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    assert isinstance(m, nn.modules.conv._ConvNd)
    return y.numel() * (x.shape[1] // m.groups) * math.prod(m.weight.shape[2:])


def _norm(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    affine = getattr(m, "affine", False) or getattr(m, "elementwise_affine", False)
    return 2 * x.numel() * (2 if affine else 1)


def _linear(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    assert isinstance(m, nn.Linear)
    return m.in_features * y.numel()


def _softmax(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    assert isinstance(m, nn.Softmax) and m.dim is not None
    n = x.shape[m.dim]
    return (x.numel() // n) * (3 * n - 1)


def _adaptive_avgpool(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    kernel = math.prod(a / b for a, b in zip(x.shape[2:], y.shape[2:], strict=True))
    return int((kernel + 1) * y.numel())


def _upsample(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    factor = {"nearest": 1, "linear": 5, "bilinear": 11}.get(getattr(m, "mode", ""), 0)
    return y.numel() * factor


# By exact type: a subclass (e.g. attention's out_proj Linear) counts 0.
_RULES: dict[type[nn.Module], _MacRule] = {
    **dict.fromkeys((nn.Conv1d, nn.Conv2d, nn.Conv3d), _conv),
    **dict.fromkeys((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), _conv),
    **dict.fromkeys((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm), _norm),
    **dict.fromkeys((nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d), _norm),
    nn.Linear: _linear,
    nn.Softmax: _softmax,
    **dict.fromkeys((nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d), lambda m, x, y: y.numel()),
    **dict.fromkeys(
        (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d), _adaptive_avgpool
    ),
    **dict.fromkeys((nn.Upsample, nn.UpsamplingBilinear2d, nn.UpsamplingNearest2d), _upsample),
}


@dataclass(frozen=True)
class ModelProfile:
    params_thop: int
    params_true: int
    macs: int
    input_shape: tuple[int, ...]

    @property
    def params_m(self) -> float:
        return self.params_thop / 1e6

    @property
    def macs_m(self) -> float:
        return self.macs / 1e6


@torch.no_grad()
def profile_model(model: nn.Module, img_size: int = 1024, batch: int = 1) -> ModelProfile:
    """Params (thop and true) and thop MACs of one forward of a (batch,3,S,S) input."""
    macs = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        rule = _RULES.get(type(module))
        if rule is not None and inputs and isinstance(inputs[0], torch.Tensor):
            macs += int(rule(module, inputs[0], output))

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(batch, 3, img_size, img_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    params_thop = sum(p.numel() for m in leaves for p in m.parameters(recurse=False))
    params_true = sum(p.numel() for p in model.parameters())
    return ModelProfile(params_thop, params_true, macs, (batch, 3, img_size, img_size))


@torch.inference_mode()
def median_seconds(step: Callable[[], object], runs: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_latency(
    model: nn.Module, img_size: int = 1024, runs: int = 5, warmup: int = 1, batch: int = 1
) -> float:
    model.eval()
    device = next(model.parameters()).device
    x = torch.randn(batch, 3, img_size, img_size, device=device)

    def forward() -> None:
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return median_seconds(forward, runs, warmup)
