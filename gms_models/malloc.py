"""Keep freed memory in the process (glibc only): ``mmap`` off and a high trim threshold, so a
forward reuses the last one's blocks instead of page-faulting them back in (README, "Freed memory
is reused")."""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30  # free memory at the heap's top beyond this goes back

OPT_OUT = "GMS_KEEP_FREED_MEMORY"


def on_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # the name is unknown off glibc
        return False


def keep_freed_memory() -> bool:
    """Apply the settings; whether it did (never off glibc or with ``GMS_KEEP_FREED_MEMORY=0``)."""
    if os.environ.get(OPT_OUT, "1") == "0" or not on_glibc():
        return False
    libc = ctypes.CDLL(None)
    return bool(
        libc.mallopt(M_MMAP_MAX, 0) == 1
        and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    )
