"""The real MobileSAM ViT-T teacher exported to ONNX: valid, dynamic batch, same features as torch.

Also the ONNX file the TensorRT backend builds its engine from (TensorRT itself cannot run here).
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from gms_models.data.image_folder import ImageFolderDataset
from gms_models.teacher import OnnxRuntimeTeacher, TeacherSpec, TorchTeacher, ensure_teacher_onnx

CPU = torch.device("cpu")
SIZE = 256


@pytest.fixture(scope="module")
def vit_t_spec(teacher_ckpt: Path) -> TeacherSpec:
    return TeacherSpec.from_checkpoint(teacher_ckpt, SIZE)


@pytest.fixture(scope="module")
def coco_batch(coco_mini: Path) -> torch.Tensor:
    """Three SAM-normalised 256² crops of COCO images (the nanosam transform)."""
    dataset = ImageFolderDataset(coco_mini / "val2017", teacher_size=SIZE, seed=0)
    return torch.stack([dataset[i].teacher for i in range(3)])


def test_teacher_spec_identity_names_weights_and_size(vit_t_spec: TeacherSpec) -> None:
    # sha256 of the reference checkpoint, from shared/reference/README.md
    assert vit_t_spec.identity == "vit_t-240dd6e9450480f6-256"


def test_onnxruntime_vit_t_matches_torch_within_1e_4(
    vit_t_spec: TeacherSpec, coco_batch: torch.Tensor, tmp_path: Path
) -> None:
    onnx_path = ensure_teacher_onnx(vit_t_spec, tmp_path)
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch

    ours = OnnxRuntimeTeacher(vit_t_spec, CPU, cache_dir=tmp_path, intra_op_threads=1)
    assert ours.onnx_path == onnx_path
    reference = TorchTeacher(vit_t_spec, CPU)
    for batch in (coco_batch, coco_batch[:1]):
        expected = reference(batch)
        got = ours(batch)
        assert got.shape == expected.shape == (len(batch), 256, 16, 16)
        assert float((got - expected).norm() / expected.norm()) < 1e-4
