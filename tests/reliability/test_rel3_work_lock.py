"""Issue 17 item 10: two runs on one ``runs/`` never compute the same step twice.

Two Prefect tasks of one flow (threads, as the ablation runs its arms) enter the same cached step
while the first is still computing: the second waits for the work folder's lock, then reuses the
first one's outputs. The lock is ``flock`` on a file beside the work folder, so two processes
exclude each other the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from tasks.caching import CodeVersion, StepOutputs, cached_step

pytestmark = [pytest.mark.timeout(600), pytest.mark.usefixtures("prefect_harness")]


class Answer(StepOutputs):
    value: int
    file: Path


@task(cache_policy=NO_CACHE)
def answer_step(runs_dir: Path, compute: Callable[[Path, str], Answer]) -> Answer:
    code = CodeVersion(commit="0" * 40, dirty_hash=None)
    return cached_step(runs_dir, "answer", "arm", {"question": 6 * 7}, code, Answer, compute)


def test_the_second_run_of_a_step_waits_and_reuses_the_first(tmp_path: Path) -> None:
    computed: list[str] = []
    entered = threading.Event()

    def compute(work_dir: Path, device: str) -> Answer:
        computed.append(threading.current_thread().name)
        entered.set()
        time.sleep(1.5)  # the second task arrives meanwhile
        work_dir.mkdir(parents=True, exist_ok=True)
        (work_dir / "answer.txt").write_text("42")
        return Answer(value=len(computed) * 42, file=work_dir / "answer.txt")

    @flow
    def two_at_once() -> tuple[Answer, Answer]:
        first = answer_step.submit(tmp_path, compute)
        assert entered.wait(120), "the first task never started computing"
        second = answer_step.submit(tmp_path, compute)
        return first.result(), second.result()

    first, second = two_at_once()
    assert len(computed) == 1, f"computed {len(computed)} times: {computed}"
    assert first == second and first.value == 42
    folder = first.file.parent
    # beside the work folder only its (released) lock file, no temporary
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted(
        [folder.name, f".{folder.name}.lock"]
    )
