"""The runtime is what an edge computer runs: importing and using it must not pull in torch or the
PyTorch model code."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("torch", "gms_models.sam", "gms_models.encoders", "gms_models.export")

CODE = f"""
import sys
import numpy as np
import gms_models.runtime
from gms_models.runtime import BundlePredictor
from gms_models.geometry import (
    encode_prompt_points, encoder_input, postprocess_masks, validate_prompts
)
from gms_models.runtime.sam_onnx import SamOnnxPredictor

x, size = encoder_input(np.zeros((30, 40, 3), np.uint8), 64)
postprocess_masks(np.zeros((1, 1, 16, 16), np.float32), size, (30, 40), 64)
prompts = validate_prompts((30, 40), boxes=np.array([[1, 2, 10, 20]]))
encode_prompt_points(None, None, prompts.boxes)
BundlePredictor(64, None, {{}})
bad = sorted(
    m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith({FORBIDDEN[1:]!r})
)
assert not bad, bad
"""


def test_runtime_imports_no_torch_nor_model_code() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
