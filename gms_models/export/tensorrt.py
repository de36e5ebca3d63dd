"""TensorRT 10 engines, the one builder; fp32 clears TF32; ``tensorrt`` imported when needed."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Literal

from gms_models.errors import ConfigError
from gms_models.export.checked import ExportResult, publish
from gms_models.export.errors import EngineBuildError
from gms_models.export.metadata import SourceCheckpoint, artifact_metadata
from gms_models.export.parity import Inputs, compare
from gms_models.files import atomic_path
from gms_models.runtime.errors import BackendUnavailableError
from gms_models.runtime.manifest import DECODER_INPUTS, ENCODER_INPUT
from gms_models.runtime.sessions import (
    OnnxRuntimeSession,
    TensorRTSession,
    import_cudart,
    import_tensorrt,
)

BuildPrecision = Literal["fp32", "fp16", "bf16", "int8"]
EnginePrecision = Literal["fp32", "fp16"]  # what exported engines are checked at
Shape = tuple[int, ...]
Profile = dict[str, tuple[Shape, Shape, Shape]]  # input name -> (min, opt, max)

REDUCED_PRECISION_FLAGS = {"fp16": "FP16", "bf16": "BF16", "int8": "INT8"}
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
WORKSPACE_BYTES = 4 << 30
MAX_BATCH = 8
MAX_POINTS = 16


def require_tensorrt() -> ModuleType:
    """``tensorrt`` when it, cuda-python and a CUDA GPU are all here."""
    trt = import_tensorrt()
    cudart = import_cudart()
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0 or count == 0:
        raise BackendUnavailableError(
            f"TensorRT engines need a CUDA GPU, and none is visible here ({err})"
        )
    return trt


def gpu_name() -> str:
    """CUDA device 0's name: engines are only valid on the GPU model that built them."""
    cudart = import_cudart()
    err, props = cudart.cudaGetDeviceProperties(0)
    if int(err) != 0:
        raise BackendUnavailableError(f"cannot query the CUDA device: {err}")
    name = props.name
    return (name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)).strip()


def encoder_profile(
    img_size: int, dynamic_batch: bool, max_batch: int = MAX_BATCH, opt_batch: int = 1
) -> Profile:
    top = max_batch if dynamic_batch else 1
    if not 1 <= opt_batch <= top:
        raise ConfigError(f"need 1 <= opt_batch <= max_batch, got {opt_batch}, {top}")
    one, opt, high = ((b, 3, img_size, img_size) for b in (1, opt_batch, top))
    return {ENCODER_INPUT: (one, opt, high)}


def decoder_profile(
    img_size: int, max_batch: int = MAX_BATCH, max_points: int = MAX_POINTS
) -> Profile:
    """Tuned for one prompt of a box or two points."""
    g, m = img_size // 16, img_size // 4
    embeddings, coords, labels, masks, has_mask = DECODER_INPUTS
    return {
        embeddings: ((1, 256, g, g), (1, 256, g, g), (max_batch, 256, g, g)),
        coords: ((1, 1, 2), (1, 2, 2), (max_batch, max_points, 2)),
        labels: ((1, 1), (1, 2), (max_batch, max_points)),
        masks: ((1, 1, m, m), (1, 1, m, m), (max_batch, 1, m, m)),
        has_mask: ((1,), (1,), (1,)),
    }


def build_engine(onnx_path: Path, *, precision: BuildPrecision, profile: Profile) -> bytes:
    if precision != "fp32" and precision not in REDUCED_PRECISION_FLAGS:
        raise EngineBuildError(
            f"unknown engine precision {precision!r}; choose fp32, "
            f"{', '.join(REDUCED_PRECISION_FLAGS)}"
        )
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: always explicit batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)
    else:
        config.set_flag(getattr(trt.BuilderFlag, REDUCED_PRECISION_FLAGS[precision]))
    opt_profile = builder.create_optimization_profile()
    for name, (low, opt, high) in profile.items():
        opt_profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(opt_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT failed to build a {precision} engine from {onnx_path} with profile "
            f"{profile}; see the TensorRT log above"
        )
    return bytes(serialized)


def profile_fits(inputs: Inputs, profile: Profile) -> bool:
    return all(
        all(lo <= s <= hi for s, lo, hi in zip(inputs[name].shape, low, high, strict=True))
        for name, (low, _, high) in profile.items()
    )


def export_tensorrt_engine(
    onnx: ExportResult,
    dest: str | Path,
    *,
    precision: EnginePrecision,
    profile: Profile,
    source: SourceCheckpoint | None = None,
) -> ExportResult:
    """The engine of a checked ONNX export, checked against ONNX Runtime on its parity cases."""
    trt = require_tensorrt()
    dest = Path(dest)
    cases = {name: inputs for name, inputs in onnx.cases.items() if profile_fits(inputs, profile)}
    if not cases:
        raise EngineBuildError(f"no parity case of {onnx.path.name} fits the profile {profile}")
    blob = build_engine(onnx.path, precision=precision, profile=profile)
    reference = OnnxRuntimeSession(onnx.path)
    with atomic_path(dest) as tmp:
        tmp.write_bytes(blob)
        engine = TensorRTSession(tmp)
        report, _ = compare(
            engine.run,
            reference.run,
            cases,
            reference_name="onnxruntime",
            tolerance=TOLERANCE[precision],
            what=f"TensorRT {precision} engine {dest.name}",
        )
        del engine
        base = onnx.metadata
        meta = artifact_metadata(
            tmp,
            file_name=dest.name,
            role=base["role"],
            arch=base["arch"],
            img_size=base["img_size"],
            precision=precision,
            opset=base["opset"],
            io={"inputs": base["inputs"], "outputs": base["outputs"]},
            parity=report,
            source=source,
            exporter=f"tensorrt {trt.__version__} builder",
            onnx_file=onnx.path.name,
            onnx_sha256=base["sha256"],
            gpu=gpu_name(),
            optimization_profile={k: [list(s) for s in v] for k, v in profile.items()},
            multimask_output=base.get("multimask_output"),
        )
    return publish(dest, meta, report, cases, {})
