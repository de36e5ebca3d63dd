"""Sessions over exported files, named numpy arrays in and out: ONNX Runtime (CPU, or CUDA where
the build has it) and TensorRT (``tensorrt``, ``cuda-python`` imported only then)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

import numpy as np

from gms_models.runtime.errors import BackendUnavailableError, BundleError

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


class Session(Protocol):
    """Runs one exported graph: named float32 inputs in, named outputs out."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


WARMUP_RUNS = 2
"""Untimed runs before a session's latency counts: ONNX Runtime pages its memory in over its
first two (the first plans the memory pattern, the second allocates it; gmf_2282 at 1024 faults
about 110k pages in each and runs 1.4x its steady time)."""

GRAPH_OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def spare_one_core_threads() -> int:
    """One intra-op thread per physical core this process may run on, less one (at least 1): a
    line PC always runs other software, and a thread sharing its core with a busy neighbour
    holds every parallel op back (README, "ONNX Runtime sessions")."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores = set()
    for cpu in cpus or range(os.cpu_count() or 1):
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        cores.add(siblings.read_text().strip() if siblings.is_file() else str(cpu))
    return max(1, len(cores) - 1)


@dataclass(frozen=True)
class OrtSettings:
    """ONNX Runtime settings, one definition for the benchmark, ``bundle.json`` and the runtime;
    the defaults are the deployment choice (README, "ONNX Runtime sessions"). ``threads=None``:
    :func:`spare_one_core_threads` on the machine that opens the session."""

    threads: int | None = None
    spinning: bool = False
    graph_optimization: str = "all"

    def __post_init__(self) -> None:
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise BundleError(
                f"ONNX Runtime threads must be a positive integer or null, got {self.threads!r}"
            )
        if not isinstance(self.spinning, bool):
            raise BundleError(f"ONNX Runtime spinning must be true or false, got {self.spinning!r}")
        if self.graph_optimization not in GRAPH_OPTIMIZATION_LEVELS:
            raise BundleError(
                f"ONNX Runtime graph_optimization {self.graph_optimization!r} is not one of "
                f"{', '.join(GRAPH_OPTIMIZATION_LEVELS)}"
            )

    def session_options(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        level = GRAPH_OPTIMIZATION_LEVELS[self.graph_optimization]
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.intra_op_num_threads = self.threads or spare_one_core_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(self.spinning)))
        return options


class OnnxRuntimeSession:
    """An ONNX Runtime session; ``device="cuda"`` needs a build with the CUDA provider."""

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        settings: OrtSettings = OrtSettings(),
    ) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise BundleError(f"ONNX file not found: {path}")
        available = ort.get_available_providers()
        if device == "cuda" and CUDA_PROVIDER not in available:
            raise BackendUnavailableError(
                f"ONNX Runtime here has no {CUDA_PROVIDER} (available: {', '.join(available)}); "
                "install onnxruntime-gpu on a CUDA host or run on the CPU"
            )
        providers = [CUDA_PROVIDER, CPU_PROVIDER] if device == "cuda" else [CPU_PROVIDER]
        self.path = path
        self.settings = settings
        self.session = ort.InferenceSession(
            str(path), sess_options=settings.session_options(), providers=providers
        )
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self.session.run(list(self.output_names), feeds)
        return dict(zip(self.output_names, outputs, strict=True))


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module, or :class:`BackendUnavailableError` saying how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailableError(
            "TensorRT is not installed here: the 'tensorrt' Python package is missing. On a CUDA "
            "host install it with `uv sync --extra tensorrt` (and cuda-python to run engines); "
            "elsewhere use the ONNX Runtime files"
        ) from exc
    return cast(ModuleType, tensorrt)  # untyped without stubs, and absent on CPU hosts


def import_cudart() -> ModuleType:
    """CUDA's runtime API from cuda-python, or :class:`BackendUnavailableError`."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.8
        except ImportError as exc:
            raise BackendUnavailableError(
                "running a TensorRT engine needs cuda-python (`pip install cuda-python`) for "
                "GPU memory; it is not installed here"
            ) from exc
    return cast(ModuleType, cudart)  # untyped without stubs, and absent on CPU hosts


def _cuda_call(result: tuple[Any, ...]) -> Any:
    """Unwrap a cuda-python ``(error, value...)`` tuple, raising on an error code."""
    err, *values = result
    if int(err) != 0:
        raise RuntimeError(f"CUDA runtime call failed: {err}")
    return values[0] if values else None  # every call here returns at most one value


class TensorRTSession:
    """A TensorRT engine on the default GPU, host arrays copied over on a private CUDA stream."""

    def __init__(self, path: str | Path) -> None:
        trt = import_tensorrt()
        self._cudart = import_cudart()
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"TensorRT engine not found: {path}")
        self.path = path
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise BundleError(
                f"TensorRT could not load {path}: engines only run with the TensorRT version and "
                "GPU model that built them; rebuild it here with `gms export --tensorrt`"
            )
        self.context = self.engine.create_execution_context()
        self._stream = _cuda_call(self._cudart.cudaStreamCreate())
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = trt.TensorIOMode.INPUT
        self.input_names = tuple(n for n in names if self.engine.get_tensor_mode(n) == is_input)
        self.output_names = tuple(n for n in names if self.engine.get_tensor_mode(n) != is_input)
        self._trt = trt

    def _malloc(self, nbytes: int) -> int:
        return int(_cuda_call(self._cudart.cudaMalloc(max(nbytes, 1))))

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        buffers: list[int] = []
        try:
            for name in self.input_names:
                dtype = self._trt.nptype(self.engine.get_tensor_dtype(name))
                host = np.ascontiguousarray(feeds[name], dtype=dtype)
                self.context.set_input_shape(name, host.shape)
                ptr = self._malloc(host.nbytes)
                buffers.append(ptr)
                _cuda_call(
                    cudart.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, h2d, self._stream),
                )
                self.context.set_tensor_address(name, ptr)
            outputs: dict[str, np.ndarray] = {}
            for name in self.output_names:
                shape = tuple(self.context.get_tensor_shape(name))
                dtype = self._trt.nptype(self.engine.get_tensor_dtype(name))
                outputs[name] = np.empty(shape, dtype=dtype)
                ptr = self._malloc(outputs[name].nbytes)
                buffers.append(ptr)
                self.context.set_tensor_address(name, ptr)
            if not self.context.execute_async_v3(self._stream):
                raise RuntimeError(f"TensorRT execution failed for {self.path}")
            for name, ptr in zip(self.output_names, buffers[len(self.input_names) :], strict=True):
                host = outputs[name]
                _cuda_call(
                    cudart.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, d2h, self._stream),
                )
            _cuda_call(cudart.cudaStreamSynchronize(self._stream))
            return {name: out.astype(np.float32, copy=False) for name, out in outputs.items()}
        finally:
            for ptr in buffers:
                cudart.cudaFree(ptr)


def open_session(
    path: str | Path, runtime: str, *, device: str = "cpu", ort: OrtSettings = OrtSettings()
) -> Session:
    """A session for ``path`` under ``runtime`` (``onnxruntime``, with ``ort``, or ``tensorrt``)."""
    if runtime == "onnxruntime":
        return OnnxRuntimeSession(path, device=device, settings=ort)
    if runtime == "tensorrt":
        return TensorRTSession(path)
    raise BundleError(f"unknown runtime {runtime!r}; choose onnxruntime or tensorrt")
