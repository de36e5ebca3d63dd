"""A scratch DVC repository built from the project's DVC files, and helpers to run gms and dvc.

The scratch repository holds copies of the committed DVC files (``.dvc/config``, ``.dvcignore``,
``data.dvc``, ...) in a fresh ``git init`` folder, so tests see exactly what a fresh clone sees,
even before the coordinator has committed the files. The code (``gms``) is the installed project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
DVC_FILES = (".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore", "data.dvc")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without AWS settings (tests set their own), this venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["COLUMNS"] = "200"
    return {**env, **(extra or {})}


def run(
    args: Sequence[object],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command of this environment (``gms``, ``dvc``, ...) and capture its output."""
    command = [str(BIN / str(args[0])), *map(str, args[1:])]
    return subprocess.run(
        command, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )


def make_scratch_repo(repo_root: Path, dest: Path, files: Sequence[str] = DVC_FILES) -> Path:
    """A new git repository at ``dest`` holding copies of ``files`` from the project."""
    dest.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_root / name, target)
    return dest


#: What dvc.yaml's stages depend on besides the data and params.yaml.
CODE = ("gms_models", "tasks", "flows")
PIPELINE_FILES = (*DVC_FILES, "dvc.yaml", "params.yaml")


def make_pipeline_clone(repo_root: Path, dest: Path, files: Sequence[str] = PIPELINE_FILES) -> Path:
    """A scratch repository with ``files`` and the stages' code folders, the demo data fetched."""
    repo = make_scratch_repo(repo_root, dest, files)
    for package in CODE:
        shutil.copytree(
            repo_root / package, repo / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    fetched = run(["gms", "data", "fetch", "--source", "demo"], cwd=repo)
    assert fetched.returncode == 0, fetched.stderr
    return repo
