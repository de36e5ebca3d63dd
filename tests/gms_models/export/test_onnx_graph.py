"""The exported GMF graph: what ONNX Runtime's NCHWc layout can hold, and the INT8 path's two
rewrites of it (its LayerNorms' channel-mean MatMuls as 1×1 convolutions, each GELU as one node)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from gms_models.encoders.gmf_inference import NCHWC_BLOCK
from gms_models.export import default_parity_image, export_encoder_onnx
from gms_models.export.checked import ExportResult
from gms_models.export.onnx_graph import gelus_as_one_op, pixel_matmuls_as_convs
from gms_models.export.quantize import quantize_encoder_int8
from gms_models.registry import build_encoder
from gms_models.runtime import OnnxRuntimeSession

SIZE = 64
BLOCKS = 14  # gmf_2282: 2 + 2 + 8 + 2
# Per block: the two channel means of each of its three LayerNorms (its 1×1 projections are
# exported as convolutions already).
REWRITES_PER_BLOCK = 2 * 3


@pytest.fixture(scope="module")
def gmf_export(tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    torch.manual_seed(0)
    model = build_encoder("gmf_2282", img_size=SIZE).eval()
    folder = tmp_path_factory.mktemp("gmf")
    return export_encoder_onnx(
        model,
        folder / "gmf_2282.onnx",
        arch="gmf_2282",
        img_size=SIZE,
        parity_image=default_parity_image(),
        dynamic_batch=True,
    )


def test_blocks_have_no_split_and_no_grouped_conv_narrower_than_a_channel_block(
    gmf_export: ExportResult,
) -> None:
    """Either would leave NCHWc: ONNX Runtime reorders to NCHW around a Split, and runs a grouped
    conv whose groups do not fill whole channel blocks in NCHW (README, "GMF inference form")."""
    graph = onnx.load(str(gmf_export.path)).graph
    assert "Split" not in {n.op_type for n in graph.node}
    weights = {i.name: list(i.dims) for i in graph.initializer}
    grouped = []
    for conv in (n for n in graph.node if n.op_type == "Conv"):
        groups = next((a.i for a in conv.attribute if a.name == "group"), 1)
        per_group = weights[conv.input[1]][1]
        if groups > 1 and per_group > 1:  # grouped, not depthwise
            grouped.append(per_group)
    assert len(grouped) == 3 * BLOCKS  # the aggregators' pointwise convs of q, k and v
    assert all(width % NCHWC_BLOCK == 0 for width in grouped)


def _assert_runs_like(export: ExportResult, model: onnx.ModelProto, tmp_path: Path) -> None:
    """The rewritten ``model`` passes the full check and gives the exported file's embeddings
    within summation-order noise (ONNX Runtime fuses a float GELU's five nodes into its one)."""
    onnx.checker.check_model(model, full_check=True)
    rewritten = tmp_path / "rewritten.onnx"
    onnx.save(model, str(rewritten))
    x = np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE), dtype=np.float32)
    expected = OnnxRuntimeSession(export.path).run({"image": x})["image_embeddings"]
    got = OnnxRuntimeSession(rewritten).run({"image": x})["image_embeddings"]
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def _constant_weight_matmuls(model: onnx.ModelProto) -> int:
    constants = {i.name for i in model.graph.initializer}
    constants |= {out for n in model.graph.node if n.op_type == "Constant" for out in n.output}
    return sum(n.op_type == "MatMul" and n.input[0] in constants for n in model.graph.node)


def test_rewrite_keeps_the_outputs_and_leaves_no_weight_matmul(
    gmf_export: ExportResult, tmp_path: Path
) -> None:
    model = onnx.load(str(gmf_export.path))
    assert _constant_weight_matmuls(model) == BLOCKS * REWRITES_PER_BLOCK
    assert pixel_matmuls_as_convs(model) == BLOCKS * REWRITES_PER_BLOCK
    assert _constant_weight_matmuls(model) == 0
    _assert_runs_like(gmf_export, model, tmp_path)
    assert pixel_matmuls_as_convs(model) == 0  # nothing left to rewrite


def test_each_gelu_becomes_one_node_with_the_same_outputs(
    gmf_export: ExportResult, tmp_path: Path
) -> None:
    model = onnx.load(str(gmf_export.path))
    assert gelus_as_one_op(model) == BLOCKS  # one per MLP
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gelu") == BLOCKS and "Erf" not in ops
    _assert_runs_like(gmf_export, model, tmp_path)
    assert gelus_as_one_op(model) == 0


def test_int8_gmf_quantises_its_pointwise_layers_as_convolutions(
    gmf_export: ExportResult, tmp_path: Path, coco_mini: Path
) -> None:
    """ONNX Runtime's quantiser leaves a MatMul with its weight on the left in float (the INT8
    file was slower than fp32); as convolutions they get int8 kernels."""
    dest = tmp_path / "gmf_2282.int8.onnx"
    q = quantize_encoder_int8(gmf_export, dest, coco_mini / "val2017", max_images=1)
    ops = [n.op_type for n in onnx.load(str(q.path)).graph.node]
    assert ops.count("MatMul") == 2 * BLOCKS  # only the attention's two products per block
    assert ops.count("Gelu") == BLOCKS and "Erf" not in ops  # float between Q/DQ, one node
    assert ops.count("QuantizeLinear") > 0
