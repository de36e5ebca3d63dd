"""``export_bundle``: one folder swapped in whole: ``bundle.json``, ``<arch>.onnx``, two decoders,
maybe ``<arch>.int8.onnx`` and ``.engine`` files (the nanosam profile; or SAM's files at 1024)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gms_models.export.checked import ExportResult
from gms_models.export.errors import ExportError
from gms_models.export.onnx_decoder import export_decoder_onnx
from gms_models.export.onnx_encoder import (
    REAL_IMAGE_CASE,
    default_parity_image,
    export_encoder_onnx,
)
from gms_models.export.onnx_graph import DEFAULT_OPSET, check_opset
from gms_models.export.quantize import DEFAULT_MAX_IMAGES, quantize_encoder_int8
from gms_models.export.sam_profile import deployment_sources, export_sam_profile
from gms_models.export.sources import ExportSources
from gms_models.export.tensorrt import (
    EnginePrecision,
    Profile,
    decoder_profile,
    encoder_profile,
    export_tensorrt_engine,
    require_tensorrt,
)
from gms_models.files import staged_folder
from gms_models.geometry import PIXEL_MEAN, PIXEL_STD
from gms_models.runtime.manifest import (
    ENCODER_OUTPUT,
    MANIFEST_FILE,
    Artifact,
    BundleManifest,
    OnnxProfile,
    Role,
)
from gms_models.runtime.sessions import OrtSettings

DECODER_FILES = {True: "mask_decoder.multimask.onnx", False: "mask_decoder.single.onnx"}

Progress = Callable[[str], None]


@dataclass
class BundleResult:
    folder: Path
    manifest: BundleManifest
    results: dict[str, ExportResult] = field(default_factory=dict)


def check_destination(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"output {out} exists and is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MANIFEST_FILE).is_file():
            raise ExportError(
                f"output folder {out} is not empty and is not a gms export (no {MANIFEST_FILE}); "
                "choose a new or empty folder"
            )
        if not overwrite:
            raise ExportError(
                f"output folder {out} already holds an export; pass overwrite=True "
                "(gms export --overwrite) to replace it"
            )


def export_bundle(
    out: str | Path,
    sources: ExportSources,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    tensorrt: bool = False,
    fp16: bool = False,
    int8_calib: str | Path | None = None,
    int8_max_images: int = DEFAULT_MAX_IMAGES,
    parity_image: np.ndarray | None = None,
    ort_settings: OrtSettings = OrtSettings(),
    overwrite: bool = False,
    progress: Progress | None = None,
    profile: OnnxProfile = "nanosam",
) -> BundleResult:
    """Export ``sources`` into ``out``, bad input failing first; ``ort_settings`` go into the
    manifest so that a deployed bundle runs as it was benchmarked."""
    out = Path(out)
    say = progress or (lambda _msg: None)
    check_opset(opset)
    check_destination(out, overwrite)
    if fp16 and not tensorrt:
        raise ExportError("fp16 applies to TensorRT engines: add tensorrt=True (--tensorrt)")
    if tensorrt:
        require_tensorrt()
    if profile == "sam" and (tensorrt or int8_calib is not None or dynamic_batch):
        raise ExportError(
            "the SAM profile is the two fp32 ONNX files of SAM tools: TensorRT, INT8 and "
            "--dynamic-batch apply to the nanosam profile"
        )
    if int8_calib is not None and not Path(int8_calib).is_dir():
        raise ExportError(f"INT8 calibration folder not found: {int8_calib}")
    image = default_parity_image() if parity_image is None else parity_image

    precision: EnginePrecision = "fp16" if fp16 else "fp32"
    with staged_folder(out) as stage:
        if profile == "sam":
            sources = deployment_sources(sources)
            what = f"the {sources.arch} SAM-profile encoder and decoders"
            say(f"exporting {what} to ONNX and checking them")
            artifacts, results = export_sam_profile(stage, sources, parity_image=image, opset=opset)
        else:
            arch = sources.arch
            say(f"exporting the {arch} encoder to ONNX and checking it")
            enc = export_encoder_onnx(
                sources.encoder,
                stage / f"{arch}.onnx",
                arch=arch,
                img_size=sources.img_size,
                parity_image=image,
                opset=opset,
                dynamic_batch=dynamic_batch,
                source=sources.encoder_source,
            )
            results = {enc.path.name: enc}
            artifacts = [Artifact(enc.path.name, "encoder", "onnxruntime", "fp32")]
            decoders: dict[bool, ExportResult] = {}
            if sources.has_decoder:
                assert sources.prompt_encoder is not None and sources.mask_decoder is not None
                embedding = enc.reference_outputs[REAL_IMAGE_CASE][ENCODER_OUTPUT]
                for multimask, name in DECODER_FILES.items():
                    say(f"exporting the prompt decoder ({name}) to ONNX and checking it")
                    dec = export_decoder_onnx(
                        sources.prompt_encoder,
                        sources.mask_decoder,
                        stage / name,
                        multimask_output=multimask,
                        image_embedding=embedding,
                        arch=arch,
                        opset=opset,
                        source=sources.decoder_source,
                    )
                    decoders[multimask] = results[name] = dec
                    artifacts.append(Artifact(name, "decoder", "onnxruntime", "fp32", multimask))
            if int8_calib is not None:
                say(f"quantising the encoder to INT8 on the images of {int8_calib}")
                q = quantize_encoder_int8(
                    enc,
                    stage / f"{arch}.int8.onnx",
                    int8_calib,
                    max_images=int8_max_images,
                    decoder_onnx=decoders[False].path if False in decoders else None,
                    source=sources.encoder_source,
                )
                results[q.path.name] = q
                artifacts.append(Artifact(q.path.name, "encoder", "onnxruntime", "int8"))
            if tensorrt:
                artifacts += _export_engines(
                    stage, enc, decoders, precision, dynamic_batch, sources, results, say
                )
        manifest = BundleManifest(
            arch=sources.arch,
            img_size=sources.img_size,
            pixel_mean=PIXEL_MEAN,
            pixel_std=PIXEL_STD,
            artifacts=tuple(artifacts),
            ort_settings=ort_settings,
            profile=profile,
        )
        (stage / MANIFEST_FILE).write_text(manifest.to_json())
    say(f"wrote {out}")
    moved = {name: replace(r, path=out / r.path.name) for name, r in results.items()}
    return BundleResult(out, manifest, moved)


def _export_engines(
    stage: Path,
    enc: ExportResult,
    decoders: dict[bool, ExportResult],
    precision: EnginePrecision,
    dynamic_batch: bool,
    sources: ExportSources,
    results: dict[str, ExportResult],
    say: Progress,
) -> list[Artifact]:
    plan: list[tuple[ExportResult, Role, bool | None, Profile]] = [
        (enc, "encoder", None, encoder_profile(sources.img_size, dynamic_batch))
    ]
    plan += [(d, "decoder", mm, decoder_profile(sources.img_size)) for mm, d in decoders.items()]
    artifacts: list[Artifact] = []
    for onnx, role, multimask, profile in plan:
        say(f"building the TensorRT {precision} engine of {onnx.path.name}")
        engine = export_tensorrt_engine(
            onnx,
            stage / f"{onnx.path.stem}.{precision}.engine",
            precision=precision,
            profile=profile,
            source=sources.encoder_source if role == "encoder" else sources.decoder_source,
        )
        results[engine.path.name] = engine
        artifacts.append(Artifact(engine.path.name, role, "tensorrt", precision, multimask))
    return artifacts
