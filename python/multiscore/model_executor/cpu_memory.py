"""Keep freed tensor memory in the model process (glibc malloc tuning), so no pass pays page faults.

A forward pass allocates and frees the same large activations every layer ([T, H], [T, 3H],
[T, I]: megabytes to hundreds of megabytes). glibc serves blocks above its mmap threshold
(dynamic, at most 32 MiB) with a fresh ``mmap`` and gives them back on ``free``, and trims the
heap top; every reuse then faults its pages in again and the kernel zeroes them. Measured
(benchmark/bench_cpu_memory.py, W1 MIS and single-item, E1): 13,000-82,000 page faults per request
with glibc's defaults, under 700 with the settings below, and each pass 6-13 % faster (W4: 2 %;
benchmark/README.md "Freed memory").

The settings: every block comes from the heap (mmap threshold 1 GiB), the heap is never trimmed,
and it grows in 64 MiB steps. The cost: memory freed after a large request stays with the process
(as with jemalloc or tcmalloc, which CPU serving stacks preload for the same reason); the peak is
unchanged. ``--return-freed-memory`` keeps glibc's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

_SETTINGS = (
    (_M_MMAP_THRESHOLD, 1 << 30),  # blocks up to 1 GiB come from the heap and are reused
    (_M_TRIM_THRESHOLD, (1 << 31) - 1),  # never give the heap top back (the largest int mallopt takes)
    (_M_TOP_PAD, 64 << 20),  # grow the heap in 64 MiB steps, not one page at a time
)


def keep_freed_memory() -> str:
    """Apply the settings to this process's malloc. -> what holds now (for logs and /get_server_info)."""
    libc_name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(libc_name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return f"the C library's defaults (no mallopt in {libc_name or 'this libc'})"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    refused = [param for param, value in _SETTINGS if mallopt(param, value) != 1]
    if refused:
        logger.info("malloc: mallopt refused parameters %s; freed memory may be returned to the OS", refused)
        return f"partly tuned (mallopt refused {refused})"
    logger.info("malloc: freed tensor memory stays in the process for reuse (--return-freed-memory to disable)")
    return "freed memory kept for reuse (glibc mallopt: mmap threshold 1 GiB, no trim)"
