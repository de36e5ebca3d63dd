"""The re-parameterised GMF student equals the release-layout one within float32 noise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gms_models.encoders import inference_form
from gms_models.encoders.gmf_inference import FusedGroupMixBlock, FusedGroupMixStage
from gms_models.encoders.groupmixformer import build_gmf_student
from tests.tolerances import FUSED_FORM_ATOL

# Official GroupMixFormer-M weights (perturbed BatchNorm statistics) in a 4-stage student.
ATOL = FUSED_FORM_ATOL


def _student(gmf_ref: Path, depths: tuple[int, ...]) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_gmf_student(depths, img_size=64, pretrained=gmf_ref / "gmf_m_random_seed0.pt")


@torch.inference_mode()
def test_fused_student_matches_the_release_layout(gmf_ref: Path) -> None:
    for depths in ((3, 3, 12, 4), (3, 3, 12)):
        model = _student(gmf_ref, depths).eval()
        fused = inference_form(model)
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        expected = model(x)
        assert expected.abs().max() > 0.1  # a real signal, not a vanishing one
        torch.testing.assert_close(fused(x), expected, rtol=0, atol=ATOL)
        assert all(
            isinstance(s, FusedGroupMixStage) for s in fused.backbone.groupmixformer_backbone
        )


@pytest.mark.parametrize("form", ["onednn_channels_last", "channel_first", "onnx_export_form"])
@torch.inference_mode()
def test_fused_blocks_match_the_release_blocks(
    gmf_ref: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fused block, in each of its lowerings (oneDNN on channels-last tensors, PyTorch's
    kernels channel-first, and the form an ONNX export traces: channel means as matrix
    products), gives the release block's output on its own input."""
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: form == "onnx_export_form")
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", form == "onednn_channels_last")
    backbone = _student(gmf_ref, (2, 2, 8, 2)).eval().backbone
    fused = inference_form(_student(gmf_ref, (2, 2, 8, 2))).backbone
    x = backbone.conv_stem(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
    for i, embed in enumerate(backbone.patch_embed_layers):
        x = embed(x)
        b, c, h, w = x.shape
        for release, block in zip(
            backbone.groupmixformer_backbone[i].gma_stage,
            fused.groupmixformer_backbone[i].blocks,
            strict=True,
        ):
            expected = release(x.flatten(2).transpose(1, 2), (h, w)).transpose(1, 2)
            expected = expected.reshape(b, c, h, w)
            assert isinstance(block, FusedGroupMixBlock)
            out = block(x)
            torch.testing.assert_close(out, expected, rtol=0, atol=ATOL)
            # which lowering ran: only oneDNN's leaves the tensor channels-last
            assert out.is_contiguous(memory_format=torch.channels_last) == (
                form == "onednn_channels_last"
            )
            x = expected


@torch.inference_mode()
def test_the_fused_encoder_returns_contiguous_features(gmf_ref: Path) -> None:
    """Its stages run channels-last; what the mask decoder receives is plain NCHW."""
    fused = inference_form(_student(gmf_ref, (2, 2, 8, 2)))
    out = fused(torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)))
    assert out.shape == (1, 256, 4, 4) and out.is_contiguous()


def test_fusing_leaves_the_trained_module_alone(gmf_ref: Path) -> None:
    model = _student(gmf_ref, (2, 2, 8, 2)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = inference_form(model)
    assert model.training and not fused.training
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
