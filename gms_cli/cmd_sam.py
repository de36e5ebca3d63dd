"""``gms embed`` and ``gms segment`` with any predictor: checkpoint, ONNX folder or registry."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from gms_models.errors import DataError, PromptError
from gms_models.files import atomic_write
from gms_models.geometry import PromptBatch
from gms_models.runtime.manifest import Precision, RuntimeName

if TYPE_CHECKING:
    from gms_models.prompt_predictor import Prediction, PromptPredictor
    from gms_models.sam.predictor import SamPredictor

MASK_SIZE = 256

CheckpointOpt = Annotated[
    str,
    typer.Option(
        "--checkpoint", help="mobile_sam.pt-layout checkpoint: a path or an http(s) URL (cached)."
    ),
]
CONVERSION_NOTE = (
    "Grayscale, palette and RGBA images are converted to RGB (alpha dropped) with a warning."
)
ImageOpt = Annotated[Path, typer.Option("--image", help=f"Input image (RGB). {CONVERSION_NOTE}")]
Sha256Opt = Annotated[
    str | None, typer.Option("--sha256", help="Expected sha256 of the checkpoint file (hex).")
]


def _numbers(text: str, what: str, counts: tuple[int, ...]) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in counts:
        forms = {4: "X0,Y0,X1,Y1", 2: "X,Y", 3: "X,Y,LABEL"}
        expected = " or ".join(forms[c] for c in counts)
        raise PromptError(f"{what} {text!r} is not {expected} (comma-separated numbers)")
    return values


def parse_point(text: str) -> tuple[float, float, int]:
    """``"X,Y"`` (foreground) or ``"X,Y,LABEL"`` with LABEL 1 (foreground) or 0 (background)."""
    values = _numbers(text, "--point", (2, 3))
    label = values[2] if len(values) == 3 else 1.0
    if label not in (0.0, 1.0):
        raise PromptError(f"--point {text!r}: LABEL must be 1 (foreground) or 0 (background)")
    return values[0], values[1], int(label)


def load_npy(path: Path, what: str) -> np.ndarray:
    """The array of a .npy file; ``what`` ("mask input", "features file") names it in errors."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{what} {path} must be a .npy array, not an archive")
    return arr


def load_mask_input(path: Path) -> np.ndarray:
    """A low-res logits array (256×256, 1×256×256 or N×1×256×256) as (N, 1, 256, 256) float32."""
    arr = load_npy(path, "mask input")
    shape = arr.shape
    while arr.ndim < 4:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != (1, MASK_SIZE, MASK_SIZE):
        raise PromptError(
            f"mask input {path} has shape {shape}; expected {MASK_SIZE}x{MASK_SIZE} low-res "
            f"logits as (256,256), (1,256,256) or (N,1,256,256)"
        )
    return arr.astype(np.float32)


def parse_prompts(boxes: list[str], points: list[str], mask_input: Path | None) -> PromptBatch:
    """CLI strings -> prompts: each box is its own prompt; all points form one prompt."""
    if not boxes and not points:
        raise PromptError("empty prompt: give at least one --box X0,Y0,X1,Y1 or --point X,Y")
    if points and len(boxes) > 1:
        raise PromptError(
            f"--point can be combined with one --box only, got {len(boxes)} boxes: the points "
            "and the box form a single prompt"
        )
    box_arr = np.array([_numbers(b, "--box", (4,)) for b in boxes], np.float32) if boxes else None
    point_arr = label_arr = None
    if points:
        parsed = [parse_point(p) for p in points]
        point_arr = np.array([[[x, y] for x, y, _ in parsed]], dtype=np.float32)
        label_arr = np.array([[label for _, _, label in parsed]], dtype=np.int32)
    masks = None if mask_input is None else load_mask_input(mask_input)
    return PromptBatch(box_arr, point_arr, label_arr, masks)


def write_segment_outputs(
    prediction: Prediction, out: Path, image: np.ndarray, prompts: PromptBatch, overlay: Path | None
) -> dict[str, np.ndarray]:
    """Write ``out`` (.npz) and maybe the ``overlay`` PNG; return the arrays. The N prompts × C
    masks are flattened prompt-major, ``prompt_index`` telling which prompt each mask answers; for
    one prompt they equal SAM's ``predict`` output."""
    n, c = prediction.iou_predictions.shape
    arrays = {
        "masks": prediction.masks.reshape(n * c, *prediction.masks.shape[2:]).astype(bool),
        "iou_predictions": prediction.iou_predictions.reshape(n * c).astype(np.float32),
        "low_res_logits": prediction.low_res_logits.reshape(
            n * c, *prediction.low_res_logits.shape[2:]
        ).astype(np.float32),
        "prompt_index": np.repeat(np.arange(n, dtype=np.int64), c),
    }
    # numpy's stub gives **kwds the type of allow_pickle too, so a dict of arrays clashes
    atomic_write(out, lambda fh: np.savez_compressed(fh, **arrays))  # type: ignore[arg-type]
    if overlay is not None:
        from gms_models.sam.overlay import draw_overlay

        picture = draw_overlay(
            image,
            arrays["masks"],
            boxes=prompts.boxes,
            points=prompts.points,
            labels=prompts.labels,
        )
        atomic_write(overlay, lambda fh: picture.save(fh, format="PNG"))
    return arrays


def _load_predictor(checkpoint: str, sha256: str | None, console: Console) -> SamPredictor:
    from gms_models.sam import SamPredictor, build_sam_vit_t

    with console.status(f"loading SAM (ViT-T) from {checkpoint}"):
        return SamPredictor(build_sam_vit_t(checkpoint=checkpoint, sha256=sha256))


def embed(
    checkpoint: CheckpointOpt,
    image: ImageOpt,
    out: Annotated[Path, typer.Option("--out", help="Output .npy: float32 (1,256,64,64).")],
    sha256: Sha256Opt = None,
) -> None:
    """Compute the SAM image embedding (features) of one image."""
    from gms_models.image_io import load_rgb

    console = Console(stderr=True)
    rgb = load_rgb(image)
    predictor = _load_predictor(checkpoint, sha256, console)
    with console.status(f"encoding {image.name}"):
        predictor.set_image(rgb)
    features = predictor.get_image_embedding().cpu().numpy().astype(np.float32)
    atomic_write(out, lambda fh: np.save(fh, features))
    typer.echo(f"wrote features {features.shape} to {out}")


def segment_command(
    image: ImageOpt,
    out: Annotated[Path, typer.Option("--out", help="Output .npz (masks, IoU, low-res logits).")],
    box: Annotated[
        list[str] | None,
        typer.Option(
            "--box",
            help="Box X0,Y0,X1,Y1 in image pixels; repeat for several boxes (one mask set each).",
        ),
    ] = None,
    point: Annotated[
        list[str] | None,
        typer.Option(
            "--point",
            help="Point X,Y[,LABEL] (LABEL 1 foreground, default; 0 background); repeated "
            "points (and at most one box) form one prompt.",
        ),
    ] = None,
    multimask: Annotated[
        bool, typer.Option("--multimask", help="Three masks per prompt instead of one.")
    ] = False,
    mask_input: Annotated[
        Path | None,
        typer.Option(
            "--mask-input",
            help="Low-res logits .npy (1,256,256) from an earlier run, to refine a mask.",
        ),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option("--features", help="Embedding .npy written by `gms embed` for this image."),
    ] = None,
    overlay: Annotated[
        Path | None, typer.Option("--overlay", help="Also write a PNG of the masks on the image.")
    ] = None,
    sha256: Sha256Opt = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            help="mobile_sam.pt-layout checkpoint: a path or an http(s) URL (cached). "
            "Give this or --onnx.",
        ),
    ] = None,
    onnx: Annotated[
        Path | None,
        typer.Option(
            "--onnx",
            help="Export folder written by `gms export`: segment with the exported files only "
            "(no PyTorch model code).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Registered package, e.g. models:/gms-encoder@champion (tracking store: "
            "$MLFLOW_TRACKING_URI, else runs/mlflow.db): the files `mlflow models serve` serves.",
        ),
    ] = None,
    runtime: Annotated[
        RuntimeName,
        typer.Option("--runtime", help="With --onnx: onnxruntime (CPU) or tensorrt (GPU)."),
    ] = "onnxruntime",
    precision: Annotated[
        Precision | None,
        typer.Option(
            "--precision", help="With --onnx: encoder file fp32, int8 (ONNX Runtime) or fp16 (TRT)."
        ),
    ] = None,
) -> None:
    """Segment an image with box and/or point prompts (PyTorch checkpoint or exported ONNX).

    Writes masks (bool N×H×W), iou_predictions (N), low_res_logits (N×256×256) and
    prompt_index (N) to --out.
    """
    from gms_models.errors import ConfigError
    from gms_models.geometry import validate_prompts
    from gms_models.image_io import load_rgb

    if sum(x is not None for x in (checkpoint, onnx, model)) != 1:
        raise ConfigError("give exactly one of --checkpoint CKPT, --onnx DIR or --model URI")
    if checkpoint is None and features is not None:
        raise ConfigError(
            "--features works with --checkpoint only (exported files encode themselves)"
        )
    console = Console(stderr=True)
    prompts = parse_prompts(box or [], point or [], mask_input)
    rgb = load_rgb(image)
    # the prompts checked against the image before the (slow) model load and encoding
    validate_prompts(rgb.shape[:2], mask_size=MASK_SIZE, **vars(prompts))
    predictor: PromptPredictor[Any]
    if model is not None:
        from gms_models.runtime.sam_onnx import SamOnnxPredictor
        from tasks.registry import download_package
        from tasks.specs import TrackingSpec
        from tasks.tracking import resolve_tracking_uri

        uri = resolve_tracking_uri(TrackingSpec())
        # the sessions hold the graphs in memory: the download folder can go once they are open
        with (
            console.status(f"downloading {model} from {uri}"),
            tempfile.TemporaryDirectory(prefix="gms-model-") as folder,
        ):
            predictor = SamOnnxPredictor.from_folder(download_package(model, uri, Path(folder)))
    elif onnx is not None:
        from gms_models.runtime import BundleManifest, BundlePredictor
        from gms_models.runtime.sam_onnx import SAM_PROFILE, SamOnnxPredictor

        with console.status(f"opening {onnx}"):
            if BundleManifest.read(onnx).profile == SAM_PROFILE:
                predictor = SamOnnxPredictor.from_folder(onnx)
            else:
                predictor = BundlePredictor.from_folder(
                    onnx, runtime=runtime, encoder_precision=precision
                )
    else:
        assert checkpoint is not None
        predictor = _load_predictor(checkpoint, sha256, console)
    if features is not None:
        predictor.set_features(load_npy(features, "features file"), rgb.shape[:2])
    else:
        with console.status(f"encoding {image.name}"):
            predictor.set_image(rgb)
    prediction = predictor.predict_batch(multimask_output=multimask, **vars(prompts))
    arrays = write_segment_outputs(prediction, out, rgb, prompts, overlay)
    table = Table(title=f"{len(arrays['masks'])} masks → {out}")
    for column in ("prompt", "mask", "IoU prediction", "pixels"):
        table.add_column(column, justify="right")
    for i, (p, iou, mask) in enumerate(
        zip(arrays["prompt_index"], arrays["iou_predictions"], arrays["masks"], strict=True)
    ):
        table.add_row(str(p), str(i), f"{iou:.3f}", str(int(mask.sum())))
    Console().print(table)


COMMANDS = {"embed": embed, "segment": segment_command}
