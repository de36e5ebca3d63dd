"""Step: export an arm, time its encoder per runtime (skipped with the reason where it cannot run),
and register its deployable package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.caching import CodeVersion, cached_step
from tasks.execution import run_logger
from tasks.registry import register_package
from tasks.results import DistillOutputs, ExportOutputs, RunRef, TeacherInfo
from tasks.specs import ExportSpec, Runtime
from tasks.tracking import log_artifact, log_metrics, log_params

if TYPE_CHECKING:
    from gms_models.runtime import Session


def _session_latency_ms(session: Session, img_size: int, runs: int) -> float:
    from gms_models.profiling import median_seconds
    from gms_models.runtime.manifest import ENCODER_INPUT
    from gms_models.runtime.sessions import WARMUP_RUNS

    shape = (1, 3, img_size, img_size)
    feeds = {ENCODER_INPUT: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
    return median_seconds(lambda: session.run(feeds), runs, warmup=WARMUP_RUNS) * 1000


def measure_latencies(
    bundle: Path,
    checkpoint: Path,
    arch: str,
    img_size: int,
    runtimes: list[Runtime],
    runs: int,
    device: str,
) -> tuple[dict[str, float], dict[str, str]]:
    """Latency per runtime in ms of the encoder ``<arch>.onnx`` of ``bundle`` (or its checkpoint
    in PyTorch), and the runtimes skipped with why."""
    from gms_models.errors import GmsError
    from gms_models.profiling import measure_latency
    from gms_models.runtime import BundleManifest, OnnxRuntimeSession, TensorRTSession
    from gms_models.train import load_student

    latency: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for runtime in runtimes:
        try:
            if runtime == "torch":
                model = load_student(checkpoint, expected_arch=arch).to(device)
                latency[runtime] = measure_latency(model, img_size, runs=runs) * 1000
            elif runtime == "onnxruntime":
                ort_device = "cuda" if device.startswith("cuda") else "cpu"
                session = OnnxRuntimeSession(
                    bundle / f"{arch}.onnx",
                    device=ort_device,
                    settings=BundleManifest.read(bundle).ort_settings,  # as the bundle ships
                )
                latency[runtime] = _session_latency_ms(session, img_size, runs)
            else:
                engine = BundleManifest.read(bundle).find("encoder", "tensorrt")
                if engine is None:
                    skipped[runtime] = "no TensorRT engine in the bundle (needs a GPU host)"
                    continue
                latency[runtime] = _session_latency_ms(
                    TensorRTSession(bundle / engine.file), img_size, runs
                )
        except GmsError as exc:
            skipped[runtime] = str(exc)
    return latency, skipped


@task(name="export-arm", cache_policy=NO_CACHE)
def export_arm(
    distilled: DistillOutputs,
    teacher: TeacherInfo,
    spec: ExportSpec,
    runtimes: list[Runtime],
    latency_runs: int,
    runs_dir: Path,
    code: CodeVersion,
    run: RunRef | None = None,
    device: str = "auto",
) -> ExportOutputs:
    """Export the arm's student with the teacher's prompt decoder, time, log and register it."""
    from gms_models.export import export_bundle, student_sources
    from gms_models.files import sha256_file
    from gms_models.teacher import tensorrt_available

    logger = run_logger()
    payload = {
        "student": sha256_file(distilled.checkpoint),
        "decoder": teacher.sha256,
        "opset": spec.opset,
        "with_decoder": spec.decoder,
        "runtimes": sorted(runtimes),
        "latency_runs": latency_runs,
        "package": spec.register_model is not None,
    }

    def say(msg: str) -> None:
        logger.info("%s: %s", distilled.arm, msg)

    def compute(work_dir: Path, slot: str) -> ExportOutputs:
        sources = student_sources(
            distilled.arch,
            distilled.checkpoint,
            decoder_checkpoint=teacher.checkpoint if spec.decoder else None,
        )
        bundle = work_dir / "bundle"
        tensorrt = "tensorrt" in runtimes and slot.startswith("cuda") and tensorrt_available()
        result = export_bundle(
            bundle, sources, opset=spec.opset, tensorrt=tensorrt, overwrite=True, progress=say
        )
        package = None
        if spec.register_model is not None:
            package = work_dir / "package"
            full = student_sources(
                distilled.arch, distilled.checkpoint, decoder_checkpoint=teacher.checkpoint
            )
            export_bundle(
                package, full, opset=spec.opset, overwrite=True, progress=say, profile="sam"
            )
        latency, skipped = measure_latencies(
            bundle, distilled.checkpoint, distilled.arch, sources.img_size, runtimes,
            latency_runs, slot,
        )  # fmt: skip
        timed = ", ".join(f"{k} {v:.1f} ms" for k, v in latency.items()) or "not measured"
        say(f"exported {len(result.manifest.artifacts)} files; latency {timed}")
        return ExportOutputs(
            arm=distilled.arm,
            work_dir=work_dir,
            bundle_dir=bundle,
            bundle_files=sorted(p for p in bundle.iterdir() if p.is_file()),
            encoder_onnx=bundle / f"{distilled.arch}.onnx",
            package_dir=package,
            latency_ms=latency,
            latency_skipped=skipped,
        )

    outputs = cached_step(
        runs_dir, "export", distilled.arm, payload, code, ExportOutputs, compute, device=device
    )
    if run is not None:
        log_export_outputs(run, outputs, distilled, spec)
    return outputs


def log_export_outputs(
    run: RunRef, outputs: ExportOutputs, distilled: DistillOutputs, spec: ExportSpec
) -> None:
    log_params(run, {"export_opset": spec.opset})
    log_metrics(run, {f"latency_ms_{k}": v for k, v in outputs.latency_ms.items()})
    for path in outputs.bundle_files:
        log_artifact(run, path, "onnx")
    if spec.register_model is None or outputs.package_dir is None:
        return
    tags = {
        "arm": distilled.arm,
        "arch": distilled.arch,
        "train_img_size": str(distilled.config.get("img_size")),
        "deploy_img_size": "1024",
        "onnx_profile": "sam",
    }
    description = (
        f"Arm `{distilled.arm}` ({distilled.arch}): SAM-profile encoder + prompt decoder at "
        f"1024 as one pyfunc, from run {run.run_id}."
    )
    register_package(run, outputs.package_dir, spec.register_model, tags, description)
