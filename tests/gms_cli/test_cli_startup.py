"""The CLI starts without torch: `gms --help`, `gms stack ...` and option parsing stay light, and
every `gms` subprocess (tests, DVC stages, workers) saves the seconds torch and timm take."""

from __future__ import annotations

import subprocess
import sys


def test_cli_module_imports_neither_torch_nor_timm() -> None:
    code = "import sys, gms_cli.main; print(sorted({'torch', 'timm'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_training_api_still_resolves_on_first_use() -> None:
    import gms_models.train as train
    from gms_models.train.trainer import distill

    assert train.distill is distill
    assert all(hasattr(train, name) for name in train.__all__)
