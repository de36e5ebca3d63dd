"""The teacher's runtime and precision choices, importable without torch (settings, CLI)."""

from __future__ import annotations

from typing import Literal

BackendName = Literal["auto", "torch", "onnxruntime", "tensorrt"]
PrecisionChoice = Literal["auto", "fp32", "fp16", "bf16"]
TeacherPrecision = Literal["fp32", "fp16", "bf16"]
