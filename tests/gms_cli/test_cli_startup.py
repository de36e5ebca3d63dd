"""The CLI starts without torch: `gms --help`, `gms stack ...` and option parsing stay light, and
every `gms` subprocess (tests, DVC stages, workers) saves the seconds torch and timm take."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cli_module_imports_neither_torch_nor_timm() -> None:
    code = "import sys, gms_cli.main; print(sorted({'torch', 'timm'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_training_api_still_resolves_on_first_use() -> None:
    import gms_models.train as train
    from gms_models.train.trainer import distill

    assert train.distill is distill
    assert all(hasattr(train, name) for name in train.__all__)


def test_run_pick_loads_its_flow_and_params_without_torch() -> None:
    """`gms run pick` (dvc.yaml's pick stage) imports only its own flow's module; every flow's
    parameters (Table 1's classifier settings among them) validate without torch."""
    code = (
        "import sys\n"
        "from flows.params import FLOW_PARAMS, load_flow_params\n"
        "from flows.registry import load_flow\n"
        "[load_flow_params(name, 'params.yaml') for name in FLOW_PARAMS]\n"
        "load_flow('pick')\n"
        "print(sorted({'torch', 'timm', 'torchvision'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout.strip() == "[]"


def test_the_classify_api_still_resolves_on_first_use() -> None:
    import gms_models.classify as classify
    from gms_models.classify.train import run_family

    assert classify.run_family is run_family
    assert all(hasattr(classify, name) for name in classify.__all__)
