"""Keep freed memory in the process instead of handing it back to the kernel (glibc only).

glibc's malloc serves large blocks with ``mmap`` and unmaps them on ``free``, so every forward
pass page-faults its large activations back in, 4 KiB at a time, and the kernel zeroes each page.
With ``mmap`` off and a high trim threshold, the blocks of one pass are reused by the next:
at 1024 on one thread the deployed ViT-T forward takes 0.74x and gmf_2282's 0.59x of its time
(``benchmarks/bench_malloc.py``; README, "Freed memory is reused").
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30
"""Free memory at the top of the heap beyond this goes back to the kernel."""

OPT_OUT = "GMS_KEEP_FREED_MEMORY"


def on_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # the name is unknown off glibc
        return False


def keep_freed_memory() -> bool:
    """Turn glibc's ``mmap`` for large blocks off and raise its trim threshold; whether it did.

    Nothing happens off glibc, or when ``GMS_KEEP_FREED_MEMORY=0`` is set."""
    if os.environ.get(OPT_OUT, "1") == "0" or not on_glibc():
        return False
    libc = ctypes.CDLL(None)
    return bool(
        libc.mallopt(M_MMAP_MAX, 0) == 1
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    )
