"""Relative L2 of an exported graph against its reference (PyTorch, or ORT for engines, INT8)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from gms_models.export.errors import ParityError

FP32_TOLERANCE = 1e-4

Inputs = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]
Runner = Callable[[Inputs], Outputs]


def relative_l2(actual: np.ndarray, reference: np.ndarray) -> float:
    """In float64; the plain norm of the difference if the reference is 0."""
    if actual.shape != reference.shape:
        raise ParityError(f"shape {actual.shape} differs from the reference {reference.shape}")
    ref = reference.astype(np.float64)
    diff = float(np.linalg.norm(actual.astype(np.float64) - ref))
    norm = float(np.linalg.norm(ref))
    return diff / norm if norm > 0 else diff


def torch_runner(
    module: nn.Module, input_names: tuple[str, ...], output_names: tuple[str, ...]
) -> Runner:
    module = module.eval()

    def run(inputs: Inputs) -> Outputs:
        with torch.inference_mode():
            result = module(
                *(torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in input_names)
            )
        result = result if isinstance(result, tuple) else (result,)
        return {name: t.numpy() for name, t in zip(output_names, result, strict=True)}

    return run


@dataclass(frozen=True)
class ParityReport:
    reference: str
    tolerance: float | None
    errors: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max((e for case in self.errors.values() for e in case.values()), default=0.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": "relative_l2",
            "reference": self.reference,
            "tolerance": self.tolerance,
            "max_error": self.max_error,
            "cases": self.errors,
        }


def compare(
    exported: Runner,
    reference: Runner,
    cases: Mapping[str, Inputs],
    *,
    reference_name: str,
    tolerance: float | None = FP32_TOLERANCE,
    what: str = "exported graph",
) -> tuple[ParityReport, dict[str, Outputs]]:
    """The report and the reference outputs per case; :class:`ParityError` beyond ``tolerance``."""
    errors: dict[str, dict[str, float]] = {}
    reference_outputs: dict[str, Outputs] = {}
    for case, inputs in cases.items():
        ref = reference(inputs)
        got = exported(inputs)
        reference_outputs[case] = ref
        errors[case] = {}
        for name, ref_value in ref.items():
            if name not in got:
                raise ParityError(f"{what} has no output {name!r} (it has {sorted(got)})")
            err = relative_l2(got[name], ref_value)
            errors[case][name] = err
            if tolerance is not None and not err <= tolerance:
                raise ParityError(
                    f"{what} output {name!r} differs from {reference_name} on the {case!r} "
                    f"inputs: relative L2 {err:.3g} > tolerance {tolerance:.1g}"
                )
    report = ParityReport(reference=reference_name, tolerance=tolerance, errors=errors)
    return report, reference_outputs
