"""The project's one ONNX exporter (README, "ONNX exporter"): TorchScript, deprecated since torch
2.9 (warning silenced; dynamo would need per-input ``Dim``s and a decoder without broadcast batch
axes). Opsets 13 (below, the decoder's ``Equal`` on float labels is invalid) to 20 (its newest);
17 is the first with a native ``LayerNormalization``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gms_models.export.errors import ExportError

if TYPE_CHECKING:
    import numpy as np

MIN_OPSET = 13
MAX_OPSET = 20
DEFAULT_OPSET = 17
EXPORTER = "torch.onnx.export (TorchScript, dynamo=False)"
MS_DOMAIN = "com.microsoft"  # ONNX Runtime's contrib ops


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


class _GraphIndex:
    """Who produces and who reads each value of a graph, and the values that are constants."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper

        self._initializers = {i.name: i for i in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self._to_array = numpy_helper.to_array

    def constant(self, name: str) -> np.ndarray | None:
        node = self.producer.get(name)
        if node is not None and node.op_type == "Identity":
            return self.constant(node.input[0])
        if node is not None and node.op_type == "Constant" and node.attribute[0].name == "value":
            return self._to_array(node.attribute[0].t)
        initializer = self._initializers.get(name)
        return None if initializer is None else self._to_array(initializer)

    def is_scalar(self, name: str, value: float) -> bool:
        array = self.constant(name)
        if array is None or array.size != 1:
            return False
        return math.isclose(array.item(), value, rel_tol=1e-6)  # float32 constants

    def only_consumer(self, name: str) -> Any | None:
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 else None


def pixel_matmuls_as_convs(model: Any) -> int:
    """Rewrite, in place, each ``Reshape(x: B,Cin,H,W -> B,Cin,H·W)`` → ``MatMul(W, ·)`` →
    ``Reshape(-> B,Cout,H,W)`` chain with a constant ``W`` (Cout,Cin) as one 1×1 ``Conv``; how
    many it rewrote. The fp32 GMF graph computes its LayerNorms' channel means this way (see
    ``gms_models.encoders.gmf_inference``); ONNX Runtime's quantiser only makes int8 kernels of
    them as convolutions (a MatMul with the constant on the left stays float)."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    shapes = _static_shapes(model)
    index = _GraphIndex(graph)
    rewritten = 0
    for matmul in [n for n in graph.node if n.op_type == "MatMul"]:
        weight = index.constant(matmul.input[0])
        flatten = index.producer.get(matmul.input[1])
        if weight is None or weight.ndim != 2 or flatten is None or flatten.op_type != "Reshape":
            continue
        x = flatten.input[0]
        cout, cin = weight.shape
        tail = index.only_consumer(matmul.output[0])
        if tail is None or tail.op_type != "Reshape":
            continue
        x_shape, y_shape = shapes.get(x), shapes.get(tail.output[0])
        if x_shape is None or len(x_shape) != 4 or x_shape[1] != cin:
            continue
        if y_shape != [x_shape[0], cout, *x_shape[2:]]:
            continue
        kernel = matmul.output[0] + "_conv_weight"
        graph.initializer.append(numpy_helper.from_array(weight.reshape(cout, cin, 1, 1), kernel))
        conv = onnx.helper.make_node(
            "Conv", [x, kernel], [tail.output[0]], name=matmul.name + "_conv"
        )
        position = list(graph.node).index(matmul)
        for node in (matmul, tail):
            graph.node.remove(node)
        if not index.consumers.get(flatten.output[0], [])[1:]:
            graph.node.remove(flatten)
            position -= 1
        graph.node.insert(position, conv)
        rewritten += 1
    _drop_unused(graph)
    return rewritten


def gelus_as_one_op(model: Any) -> int:
    """Rewrite, in place, each exact GELU as the TorchScript exporter writes it (``x / √2`` →
    ``Erf`` → ``+ 1`` → ``· x`` → ``· 0.5``) as one ``com.microsoft`` ``Gelu``; how many it
    rewrote. ONNX Runtime fuses the five nodes itself in a float graph, but not once the
    quantiser has put Q/DQ pairs between them: five passes over the MLP's widest tensor, two
    of them int8 ``Mul``s (README, "INT8 encoder"). The quantiser leaves the one node float."""
    import onnx

    graph = model.graph
    index = _GraphIndex(graph)
    rewritten = 0
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        found = _exact_gelu(index, erf)
        if found is None:
            continue
        x, nodes = found
        position = list(graph.node).index(nodes[0])
        for node in nodes:
            graph.node.remove(node)
        out = nodes[-1].output[0]
        gelu = onnx.helper.make_node("Gelu", [x], [out], name=erf.name + "_gelu", domain=MS_DOMAIN)
        graph.node.insert(position, gelu)
        # Shape inference does not know contrib ops, and the calibrator only records values of
        # a known float type.
        info = onnx.helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)
        graph.value_info.append(info)
        rewritten += 1
    if rewritten and all(o.domain != MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(MS_DOMAIN, 1))
    _drop_unused(graph)
    return rewritten


def _exact_gelu(index: _GraphIndex, erf: Any) -> tuple[str, list[Any]] | None:
    """The GELU around ``erf``: its input and its five nodes in graph order, or None."""

    def next_node(node: Any, op_type: str, other: Callable[[str], bool]) -> Any | None:
        """``node``'s only consumer if it is a binary ``op_type`` whose other input passes."""
        user = index.only_consumer(node.output[0])
        if user is None or user.op_type != op_type or len(user.input) != 2:
            return None
        first, second = user.input
        return user if other(second if first == node.output[0] else first) else None

    div = index.producer.get(erf.input[0])
    if div is None or div.op_type != "Div" or index.only_consumer(div.output[0]) is None:
        return None
    x = div.input[0]
    if not index.is_scalar(div.input[1], math.sqrt(2)):
        return None
    add = next_node(erf, "Add", lambda name: index.is_scalar(name, 1.0))
    mul = add and next_node(add, "Mul", lambda name: name == x)
    half = mul and next_node(mul, "Mul", lambda name: index.is_scalar(name, 0.5))
    return None if not half else (x, [div, erf, add, mul, half])


def _static_shapes(model: Any) -> dict[str, list[int]]:
    """Every value's inferred shape with dynamic input axes (the batch) taken as 1, so the
    traced shape arithmetic of a dynamic-batch export resolves too; values of unknown shape are
    left out."""
    import onnx

    static = onnx.ModelProto()
    static.CopyFrom(model)
    for value in static.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    graph = onnx.shape_inference.infer_shapes(static, data_prop=True).graph
    shapes = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    return shapes


def _drop_unused(graph: Any) -> None:
    """Remove nodes whose outputs nothing reads (ONNX ops have no side effects), then initializers
    nothing reads."""
    while True:
        read = {name for node in graph.node for name in node.input}
        read |= {output.name for output in graph.output}
        dead = [n for n in graph.node if not any(out in read for out in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    unread = [i for i in graph.initializer if i.name not in read]
    for initializer in unread:
        graph.initializer.remove(initializer)
