"""``gms embed`` / ``gms segment`` against the official MobileSAM outputs, and their bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.errors import CheckpointError, ConfigError, DataError, ImageError, PromptError
from tests.tolerances import (
    SEED0_FEATURES_ATOL,
    SEED0_IOU_ATOL,
    SEED0_LOGITS_ATOL,
    SEED0_MASK_LOGIT_BAND,
)

GMS = Path(sys.executable).parent / "gms"
IMAGE_ID = "000000104455"
runner = CliRunner()


@pytest.fixture(scope="module")
def image_path(coco_mini: Path) -> Path:
    return coco_mini / "val2017" / f"{IMAGE_ID}.jpg"


@pytest.fixture(scope="module")
def reference(mobile_sam_ref: Path) -> dict[str, np.ndarray]:
    with np.load(mobile_sam_ref / f"{IMAGE_ID}_prompts.npz") as npz:
        return dict(npz)


@pytest.fixture(scope="module")
def features_path(
    tmp_path_factory: pytest.TempPathFactory, teacher_ckpt: Path, image_path: Path
) -> Path:
    """``gms embed`` run once, as a user runs it: the installed command in a subprocess."""
    out = tmp_path_factory.mktemp("embed") / "features.npy"
    result = subprocess.run(
        [str(GMS), "embed", "--checkpoint", str(teacher_ckpt), "--image", str(image_path),
         "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote features (1, 256, 64, 64)" in result.stdout
    return out


def test_embed_writes_the_reference_features(
    features_path: Path, reference: dict[str, np.ndarray]
) -> None:
    features = np.load(features_path)
    assert features.shape == (1, 256, 64, 64) and features.dtype == np.float32
    np.testing.assert_allclose(features, reference["features"], rtol=0, atol=SEED0_FEATURES_ATOL)


def _fmt(values: np.ndarray) -> str:
    return ",".join(repr(float(v)) for v in values)  # exact: float32 -> float64 -> float32


def _prompt_args(ref: dict[str, np.ndarray], name: str, tmp_path: Path) -> list[str]:
    args = []
    if f"{name}__box" in ref:
        args += ["--box", _fmt(ref[f"{name}__box"])]
    if f"{name}__point_coords" in ref:
        for xy, label in zip(
            ref[f"{name}__point_coords"], ref[f"{name}__point_labels"], strict=True
        ):
            args += ["--point", f"{_fmt(xy)},{int(label)}"]
    if f"{name}__mask_input" in ref:
        mask_path = tmp_path / "mask_input.npy"
        np.save(mask_path, ref[f"{name}__mask_input"])
        args += ["--mask-input", str(mask_path)]
    if bool(ref[f"{name}__multimask_output"]):
        args.append("--multimask")
    return args


def _segment(args: list[str]) -> None:
    result = runner.invoke(app, ["segment", *args])
    assert result.exit_code == 0, (result.output, result.exception)


def _check_against_reference(out: Path, ref: dict[str, np.ndarray], names: list[str]) -> None:
    with np.load(out) as npz:
        got = dict(npz)
    expected = {
        key: np.concatenate([ref[f"{name}__{key}"] for name in names])
        for key in ("masks", "iou_predictions", "low_res_logits")
    }
    assert got["masks"].dtype == np.bool_ and got["masks"].shape == expected["masks"].shape
    np.testing.assert_allclose(
        got["iou_predictions"], expected["iou_predictions"], atol=SEED0_IOU_ATOL
    )
    np.testing.assert_allclose(
        got["low_res_logits"], expected["low_res_logits"], atol=SEED0_LOGITS_ATOL
    )
    per_prompt = [len(ref[f"{name}__iou_predictions"]) for name in names]
    assert got["prompt_index"].tolist() == np.repeat(np.arange(len(names)), per_prompt).tolist()
    # Masks may differ only where the logit sits within the band of the threshold.
    logits = torch.nn.functional.interpolate(
        torch.from_numpy(got["low_res_logits"])[None], (1024, 1024), mode="bilinear"
    )[..., : ref["input_size"][0], : ref["input_size"][1]]
    logits = torch.nn.functional.interpolate(logits, tuple(ref["original_size"]), mode="bilinear")
    differ = got["masks"] != expected["masks"]
    assert not (differ & (logits[0].abs().numpy() > SEED0_MASK_LOGIT_BAND)).any()


@pytest.mark.parametrize(
    "name", ["box_A", "point_pos_A", "points_posB_neg", "box_A_single", "box_A_refine"]
)
def test_segment_reproduces_reference_prompts(
    name: str,
    teacher_ckpt: Path,
    image_path: Path,
    features_path: Path,
    reference: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.npz"
    _segment(
        ["--checkpoint", str(teacher_ckpt), "--image", str(image_path), "--features",
         str(features_path), "--out", str(out), *_prompt_args(reference, name, tmp_path)]
    )  # fmt: skip
    _check_against_reference(out, reference, [name])


def test_several_boxes_are_one_batch(
    teacher_ckpt: Path,
    image_path: Path,
    features_path: Path,
    reference: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    out = tmp_path / "boxes.npz"
    _segment(
        ["--checkpoint", str(teacher_ckpt), "--image", str(image_path), "--features",
         str(features_path), "--out", str(out), "--multimask",
         "--box", _fmt(reference["box_A__box"]), "--box", _fmt(reference["box_B__box"])]
    )  # fmt: skip
    _check_against_reference(out, reference, ["box_A", "box_B"])


def test_segment_encodes_the_image_and_draws_an_overlay(
    teacher_ckpt: Path, image_path: Path, reference: dict[str, np.ndarray], tmp_path: Path
) -> None:
    out, overlay = tmp_path / "out.npz", tmp_path / "overlay.png"
    _segment(
        ["--checkpoint", str(teacher_ckpt), "--image", str(image_path), "--out", str(out),
         "--overlay", str(overlay), *_prompt_args(reference, "box_A_single", tmp_path)]
    )  # fmt: skip
    _check_against_reference(out, reference, ["box_A_single"])
    with Image.open(overlay) as picture:
        assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == (640, 480)
        drawn = np.asarray(picture)
    original = np.asarray(Image.open(image_path).convert("RGB"))
    mask = reference["box_A_single__masks"][0]
    changed = (drawn != original).any(axis=2)
    assert changed[mask].mean() > 0.9  # the mask is tinted
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_images_are_converted_with_a_warning(
    mode: str,
    teacher_ckpt: Path,
    image_path: Path,
    features_path: Path,
    reference: dict[str, np.ndarray],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    converted = tmp_path / f"image_{mode}.png"
    Image.open(image_path).convert(mode).save(converted)
    out = tmp_path / "out.npz"
    _segment(
        ["--checkpoint", str(teacher_ckpt), "--image", str(converted), "--features",
         str(features_path), "--out", str(out), *_prompt_args(reference, "box_B", tmp_path)]
    )  # fmt: skip
    assert f"is {mode}; converting to RGB" in caplog.text
    _check_against_reference(out, reference, ["box_B"])


@pytest.fixture
def wrong_layout_ckpt(teacher_ckpt: Path, tmp_path: Path) -> Path:
    state = torch.load(teacher_ckpt, weights_only=True)
    state = {k.replace("neck.", "neck_v2.", 1): v for k, v in state.items()}
    path = tmp_path / "wrong_layout.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [
        ([], PromptError, "empty prompt"),
        (["--box", "100,50,90,200"], PromptError, r"\[100.0, 50.0, 90.0, 200.0\] has x1 < x0"),
        (["--box", "10,20,30,500"], PromptError, r"box 0 .* lies outside the 640x480 image"),
        (["--box", "1,2,3"], PromptError, "--box '1,2,3' is not X0,Y0,X1,Y1"),
        (["--point", "5,5,7"], PromptError, "LABEL must be 1 .* or 0"),
        (["--point", "-5,5"], PromptError, r"\[\[-5.0, 5.0\]\] lies outside"),
        (
            ["--box", "1,2,3,4", "--box", "5,6,7,8", "--point", "5,5"],
            PromptError,
            "--point can be combined with one --box only, got 2 boxes",
        ),
    ],
)
def test_bad_prompts(
    extra: list[str],
    error: type[Exception],
    message: str,
    teacher_ckpt: Path,
    image_path: Path,
    features_path: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.npz"
    result = runner.invoke(
        app,
        ["segment", "--checkpoint", str(teacher_ckpt), "--image", str(image_path),
         "--features", str(features_path), "--out", str(out), *extra],
    )  # fmt: skip
    assert isinstance(result.exception, error), result.output
    assert re.search(message, str(result.exception)), str(result.exception)
    assert not out.exists()


def test_bad_files(
    teacher_ckpt: Path,
    image_path: Path,
    features_path: Path,
    wrong_layout_ckpt: Path,
    tmp_path: Path,
) -> None:
    def segment(*args: str) -> BaseException | None:
        return runner.invoke(
            app, ["segment", *args, "--out", str(tmp_path / "o.npz"), "--box", "1,2,30,40"]
        ).exception

    ckpt, image = str(teacher_ckpt), str(image_path)
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("hello")
    err = segment("--checkpoint", ckpt, "--image", str(tmp_path / "absent.jpg"))
    assert isinstance(err, ImageError) and "image not found" in str(err)
    err = segment("--checkpoint", ckpt, "--image", str(not_an_image))
    assert isinstance(err, ImageError) and "cannot decode image" in str(err)
    err = segment("--checkpoint", str(tmp_path / "absent.pt"), "--image", image)
    assert isinstance(err, CheckpointError) and "checkpoint not found" in str(err)
    err = segment("--checkpoint", str(wrong_layout_ckpt), "--image", image)
    assert isinstance(err, CheckpointError)
    assert "6 missing keys: image_encoder.neck.0.weight" in str(err)
    assert "6 unexpected keys: image_encoder.neck_v2.0.weight" in str(err)
    bad_mask = tmp_path / "mask.npy"
    np.save(bad_mask, np.zeros((1, 64, 64), np.float32))
    err = segment("--checkpoint", ckpt, "--image", image, "--mask-input", str(bad_mask))
    assert isinstance(err, PromptError) and "has shape (1, 64, 64)" in str(err)
    bad_features = tmp_path / "features.npy"
    np.save(bad_features, np.zeros((1, 256, 32, 32), np.float32))
    err = segment("--checkpoint", ckpt, "--image", image, "--features", str(bad_features))
    assert isinstance(err, DataError) and "got (1, 256, 32, 32)" in str(err)
    assert not (tmp_path / "o.npz").exists()


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "www"
    folder.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


def test_exit_status_2_and_clean_cache_on_sha256_mismatch(
    http_folder: tuple[str, Path], image_path: Path, tmp_path: Path
) -> None:
    base, folder = http_folder
    torch.save({"w": torch.zeros(3)}, folder / "mobile_sam.pt")
    cache = tmp_path / "cache"
    result = subprocess.run(
        [str(GMS), "embed", "--checkpoint", f"{base}/mobile_sam.pt", "--sha256", "ab" * 32,
         "--image", str(image_path), "--out", str(tmp_path / "f.npy")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "GMS_CACHE": str(cache)},
    )  # fmt: skip
    assert result.returncode == 2
    assert "error:" in result.stderr and "sha256 mismatch" in result.stderr
    assert "expected abab" in result.stderr.replace("\n", "")
    assert list((cache / "checkpoints").iterdir()) == []
    assert not (tmp_path / "f.npy").exists()


def test_exit_status_2_on_a_missing_image(teacher_ckpt: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jpg"
    result = subprocess.run(
        [str(GMS), "segment", "--checkpoint", str(teacher_ckpt), "--image", str(missing),
         "--box", "1,2,3,4", "--out", str(tmp_path / "o.npz")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert "error:" in result.stderr and "missing.jpg" in result.stderr.replace("\n", "")


def test_segment_needs_exactly_one_model_source(tmp_path: Path) -> None:
    image = tmp_path / "img.png"
    Image.new("RGB", (32, 24)).save(image)
    common = ["segment", "--image", str(image), "--out", str(tmp_path / "o.npz")]
    for extra in ([], ["--checkpoint", "a.pt", "--onnx", str(tmp_path)]):
        result = runner.invoke(app, [*common, "--box", "1,2,10,12", *extra])
        assert isinstance(result.exception, ConfigError)
        assert "exactly one of --checkpoint CKPT, --onnx DIR or --model URI" in str(
            result.exception
        )
