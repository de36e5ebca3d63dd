"""Importing gms_models turns on PyTorch's huge-page CPU allocations; a user's 0 turns them off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")

# Page faults while 64 MiB are allocated and written five times: 4 KiB pages need 16,384 per
# round; with 2 MiB pages the kernel needs 32 plus the 4 KiB pages around them.
FAULTS = """
import resource, sys
import gms_models, torch
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.empty(16 * 2**20).fill_(1.0)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def _faults_per_round(env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


def _madvise_mode() -> bool:
    return THP_MODE.is_file() and "[madvise]" in THP_MODE.read_text()


@pytest.mark.skipif(
    not _madvise_mode(), reason="huge pages only change anything when the kernel's mode is madvise"
)
def test_large_tensors_get_huge_pages_unless_the_user_opts_out() -> None:
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    default = _faults_per_round(env)
    opted_out = _faults_per_round({**env, "THP_MEM_ALLOC_ENABLE": "0"})
    assert opted_out > 10_000, f"4 KiB pages should fault ~16k times per round, got {opted_out}"
    assert default < opted_out / 8, f"with huge pages {default} faults, without {opted_out}"
