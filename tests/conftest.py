"""Shared fixtures: where the reference checkpoints and the COCO sample live; Prefect's test
harness for in-process flows.

``../shared`` beside the checkout holds them (override with ``GMS_SHARED``). They are read by path
and never copied into the project.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GMS_SHARED", REPO_ROOT.parent / "shared")).resolve()

# One knob for the thread count of every test and every process a test starts: GMS_TEST_THREADS
# (default 1; on a shared 2-core machine more intra-op threads only contend). Results must not
# depend on it: the parity tolerances in tests/tolerances.py cover the 1-vs-2-thread noise.
TEST_THREADS = int(os.environ.get("GMS_TEST_THREADS", "1"))
os.environ["OMP_NUM_THREADS"] = str(TEST_THREADS)


HARNESS_FIXTURE = "prefect_harness"


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (``scripts/test.sh``) with one change: every module that uses Prefect's
    test harness runs in the same test process, so that the harness's server starts once per run
    instead of once per process. The controller does not collect tests, so a module's use of the
    harness is read from its source (each such module names the fixture)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    uses_harness: dict[str, bool] = {}

    class HarnessOnceScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            if module not in uses_harness:
                path = config.rootpath / module
                uses_harness[module] = path.is_file() and HARNESS_FIXTURE in path.read_text()
            return HARNESS_FIXTURE if uses_harness[module] else module

    return HarnessOnceScheduling(config, log)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness: a temporary server and database for the session's flow runs."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(autouse=True)
def pinned_torch_threads() -> Iterator[None]:
    """Every test starts with TEST_THREADS torch threads, whatever an earlier test left."""
    torch.set_num_threads(TEST_THREADS)
    yield
    torch.set_num_threads(TEST_THREADS)


@pytest.fixture
def no_prefect_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start Prefect's temporary server fails the test."""
    from prefect.server.api.server import SubprocessASGIServer

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise AssertionError("a Prefect server was started")

    monkeypatch.setattr(SubprocessASGIServer, "start", refuse)


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(
            f"test data {path} is missing: the shared/ folder must sit beside the checkout "
            "(or set GMS_SHARED)"
        )
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _require(SHARED)


@pytest.fixture(scope="session")
def mobile_sam_ref() -> Path:
    """../shared/reference/mobile_sam: random-weight checkpoint + official outputs."""
    return _require(SHARED / "reference" / "mobile_sam")


@pytest.fixture(scope="session")
def gmf_ref() -> Path:
    """../shared/reference/groupmixformer: GroupMixFormer-M checkpoint + official outputs."""
    return _require(SHARED / "reference" / "groupmixformer")


@pytest.fixture(scope="session")
def coco_mini() -> Path:
    """../shared/data/coco-mini: 80 val2017 images + annotations, 16 train2017 images."""
    return _require(SHARED / "data" / "coco-mini")


@pytest.fixture(scope="session")
def teacher_ckpt(mobile_sam_ref: Path) -> Path:
    return mobile_sam_ref / "mobile_sam_random_seed0.pt"


@pytest.fixture(scope="session")
def standins() -> ModuleType:
    """``tests/gms_models/train/standins.py`` (tiny stand-in student and teacher) as a module."""
    path = REPO_ROOT / "tests" / "gms_models" / "train" / "standins.py"
    spec = importlib.util.spec_from_file_location("gms_train_standins", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
