"""Fixtures of the reliability suite: the CLI run as a user runs it, and a copy of the demo data.

``gms`` calls :func:`gms_cli.main.main` in-process (the same error-to-exit-status mapping as the
installed command, without paying a new interpreter per case) and returns the exit status and
everything printed. ``demo`` is a private copy of the tiny demo data that a test may break.
``distill_args`` gives the arguments of a seconds-long ``gms distill`` run; ``gms_process``
starts the installed ``gms`` in a folder as a user would, on a toy ablation (``toy_params``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gms_cli.main import main

GmsRunner = Callable[..., tuple[int, str]]


@pytest.fixture
def gms(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> GmsRunner:
    """``gms(*args) -> (exit status, stdout + stderr)`` through the real entry point."""

    def run(*args: str | Path) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["gms", *(str(a) for a in args)])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        code = exited.value.code
        return (code if isinstance(code, int) else 0 if code is None else 1), (
            captured.out + captured.err
        )

    return run


@pytest.fixture(scope="session")
def demo_pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny demo data, generated once per session (never modified)."""
    from gms_models.data.demo import generate_demo

    out = tmp_path_factory.mktemp("demo") / "data"
    generate_demo(out, seed=0, scale="tiny")
    return out


@pytest.fixture
def demo(demo_pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny demo data for one test to break."""
    return Path(shutil.copytree(demo_pristine, tmp_path / "data"))


@pytest.fixture
def distill_args(teacher_ckpt: Path) -> Callable[..., list[str]]:
    """``distill_args(images, out, *extra)``: one epoch of gmf_2282 at 64 px on the CPU."""

    def args(images: Path, out: Path, *extra: str) -> list[str]:
        fixed = "--arch gmf_2282 --teacher-backend torch --img-size 64 --batch-size 2 --epochs 1"
        fixed += " --num-workers 0 --no-progress"
        paths = ["--images", str(images), "--teacher", str(teacher_ckpt), "--out", str(out)]
        return ["distill", *fixed.split(), *paths, *extra]

    return args


def _toy_params(folder: Path, arms: list[str]) -> Path:
    """``folder/toy.yaml``: ``distill-ablation`` of ``arms`` at 64 px, one epoch, on the tiny demo
    data generated into ``folder/data``, records under ``folder/runs``."""
    path = folder / "toy.yaml"
    document = {
        "data": {"root": "data", "demo_scale": "tiny"},
        "teacher": {"backend": "torch"},
        "tracking": {"runs_dir": "runs"},
        "torch_threads": 1,
        "distill_ablation": {
            "arms": {arm: {} for arm in arms},
            "train": {"img_size": 64, "batch_size": 2, "epochs": 1, "num_workers": 0},
            "export": {"decoder": False},
            "evaluate": {
                "max_images": 2,
                "mask_grid_images": 1,
                "profile_img_size": 64,
                "latency_runs": 1,
                "latency_runtimes": ["onnxruntime"],
            },
        },
    }
    path.write_text(json.dumps(document))  # JSON is YAML
    return path


def _gms_process(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, **popen: object
) -> subprocess.Popen[str]:
    """The installed ``gms`` started in ``cwd`` without this session's Prefect/MLflow settings
    (plus ``env``), its output together on ``stdout``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("gms")), *map(str, args)],
        cwd=cwd,
        env={**clean, "COLUMNS": "250", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


@pytest.fixture
def toy_params() -> Callable[[Path, list[str]], Path]:
    """``toy_params(folder, arms) -> folder/toy.yaml`` (see :func:`_toy_params`)."""
    return _toy_params


@pytest.fixture
def gms_process() -> Callable[..., subprocess.Popen[str]]:
    """``gms_process(*args, cwd=..., env=...)``: a running ``gms`` (see :func:`_gms_process`)."""
    return _gms_process
