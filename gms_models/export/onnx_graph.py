"""The project's one ONNX exporter (README, "ONNX exporter"): TorchScript, deprecated since torch
2.9 (warning silenced; dynamo would need per-input ``Dim``s and a decoder without broadcast batch
axes). Opsets 13 (below, the decoder's ``Equal`` on float labels is invalid) to 20 (its newest);
17 is the first with a native ``LayerNormalization``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from gms_models.export.errors import ExportError

MIN_OPSET = 13
MAX_OPSET = 20
DEFAULT_OPSET = 17
EXPORTER = "torch.onnx.export (TorchScript, dynamo=False)"


def check_opset(opset: int) -> int:
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(
            f"unsupported ONNX opset {opset!r}: this exporter supports opsets "
            f"{MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})"
        )
    return opset


def export_module(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    """Write ``module`` (eval mode, CPU) traced on ``args`` to ``path`` as one ONNX file."""
    check_opset(opset)
    module = module.eval().to("cpu")
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore", DeprecationWarning)
        # TracerWarning is public in torch.jit but missing from its __all__
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
        try:
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        except Exception as exc:  # the exporter raises many unrelated types
            raise ExportError(
                f"torch.onnx.export failed for {type(module).__name__}: {exc}"
            ) from exc


def stamp_output_shapes(path: Path, shapes: Mapping[str, Sequence[int | str]]) -> None:
    """Write known output shapes (ints, or names for dynamic axes) into the graph: the tracer
    leaves axes computed through reshapes unnamed."""
    import onnx

    model = onnx.load(str(path))
    for output in model.graph.output:
        if output.name not in shapes:
            continue
        dims = output.type.tensor_type.shape.dim
        del dims[:]
        for size in shapes[output.name]:
            dim = dims.add()
            if isinstance(size, int):
                dim.dim_value = size
            else:
                dim.dim_param = size
    onnx.save(model, str(path))


def check_onnx(path: Path) -> None:
    """``onnx.checker`` full check (graph, types and shape inference); failure → ExportError."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"onnx.checker rejected the exported graph: {exc}") from exc


def onnx_io_signature(path: Path) -> dict[str, list[dict[str, object]]]:
    """Names, shapes (ints, or names for dynamic axes) and element types of inputs and outputs."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(values: Sequence[onnx.ValueInfoProto]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for value in values:
            tensor = value.type.tensor_type
            dims: list[int | str] = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in tensor.shape.dim
            ]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
            out.append({"name": value.name, "shape": dims, "dtype": dtype})
        return out

    return {"inputs": describe(model.graph.input), "outputs": describe(model.graph.output)}
