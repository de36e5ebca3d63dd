"""The teacher's runtime and precision choices as plain types, importable without torch: the
settings models and the CLI's options use them, the teacher backends implement them."""

from __future__ import annotations

from typing import Literal

BackendName = Literal["auto", "torch", "onnxruntime", "tensorrt"]
PrecisionChoice = Literal["auto", "fp32", "fp16", "bf16"]
TeacherPrecision = Literal["fp32", "fp16", "bf16"]
