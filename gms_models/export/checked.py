"""Export, ``onnx.checker``, ORT parity, then into place with metadata; a failure leaves nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gms_models.export.metadata import SourceCheckpoint, artifact_metadata, write_metadata
from gms_models.export.onnx_graph import (
    EXPORTER,
    check_onnx,
    export_module,
    onnx_io_signature,
    stamp_output_shapes,
)
from gms_models.export.parity import (
    FP32_TOLERANCE,
    Inputs,
    Outputs,
    ParityReport,
    compare,
    torch_runner,
)
from gms_models.files import atomic_path
from gms_models.runtime.sessions import OnnxRuntimeSession


@dataclass(frozen=True)
class ExportResult:
    """A checked artifact, with the parity cases and reference outputs derived ones reuse."""

    path: Path
    metadata: dict[str, Any]
    parity: ParityReport
    cases: dict[str, Inputs]
    reference_outputs: dict[str, Outputs]


def export_checked_onnx(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    dest: str | Path,
    *,
    input_names: tuple[str, ...],
    output_names: tuple[str, ...],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
    cases: Mapping[str, Inputs],
    role: str,
    arch: str,
    img_size: int,
    source: SourceCheckpoint | None,
    output_shapes: dict[str, list[int | str]] | None = None,
    **extra_metadata: Any,
) -> ExportResult:
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        export_module(
            module,
            example,
            tmp,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset=opset,
        )
        if output_shapes:
            stamp_output_shapes(tmp, output_shapes)
        check_onnx(tmp)
        session = OnnxRuntimeSession(tmp)
        report, reference = compare(
            session.run,
            torch_runner(module, input_names, output_names),
            cases,
            reference_name="pytorch",
            tolerance=FP32_TOLERANCE,
            what=f"ONNX export {dest.name}",
        )
        del session
        meta = artifact_metadata(
            tmp,
            file_name=dest.name,
            role=role,
            arch=arch,
            img_size=img_size,
            precision="fp32",
            opset=opset,
            io=onnx_io_signature(tmp),
            parity=report,
            source=source,
            exporter=EXPORTER,
            **extra_metadata,
        )
    return publish(dest, meta, report, dict(cases), reference)


def publish(
    dest: Path,
    meta: dict[str, Any],
    report: ParityReport,
    cases: dict[str, Inputs],
    reference: dict[str, Outputs],
) -> ExportResult:
    """The metadata beside ``dest``, just moved into place; on failure ``dest`` is removed."""
    try:
        write_metadata(dest, meta)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return ExportResult(dest, meta, report, cases, reference)
