"""Importing gms_models keeps freed memory in the process; GMS_KEEP_FREED_MEMORY=0 does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gms_models.malloc import on_glibc

# Page faults of ten rounds of elementwise ops on a 40 MiB tensor (above the 32 MiB up to which
# glibc learns to keep blocks by itself): unmapped on free, each result faults in its 10,240 pages
# of 4 KiB every round; kept, the later rounds reuse the blocks of the earlier ones.
FAULTS = """
import json, resource
import gms_models, torch
x = torch.randn(10 * 2**20)
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    y = x * 2
    z = (y + 1).relu()
    del y, z
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def _faults_per_round(keep: str | None) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "GMS_KEEP_FREED_MEMORY"}
    if keep is not None:
        env["GMS_KEEP_FREED_MEMORY"] = keep
    done = subprocess.run(
        [sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True
    )
    return [int(n) for n in json.loads(done.stdout)]


@pytest.mark.skipif(not on_glibc(), reason="the malloc settings are glibc's")
def test_freed_blocks_are_reused_unless_the_user_opts_out() -> None:
    opted_out = _faults_per_round("0")[4:]
    kept = _faults_per_round(None)[4:]
    assert min(opted_out) > 15_000, f"unmapped blocks fault ~30k pages a round: {opted_out}"
    assert sum(kept) < sum(opted_out) / 4, f"kept {kept} against unmapped {opted_out}"
