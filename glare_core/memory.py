"""Keep freed memory in the process for reuse during inference (glibc only).

A tile's feature maps are tens to hundreds of MB each. glibc serves blocks that large
with a fresh ``mmap`` and hands them back with ``munmap`` when freed, so every layer of
every tile pays again for the kernel to map and zero the same memory: on a 12 MP photo
(2 CPU threads) 14.8 million page faults and a third of all CPU time spent in the kernel.
Told to serve everything from its heap and to keep freed memory there, glibc hands the
next layer the pages the last one used. The engine gives the kept memory back with
:func:`release_freed_memory` after each tile (keeping it across tiles too was faster,
42-46 s, but fragmentation pushed the peak from 2.6 to 3.0 GB) and after each photo, so an
idle app does not hold its peak. Measured on 12 MP (``bench/bench_engine.py``, bfloat16
decoders): 61.2 s and 2.82 GB peak before, 49.3 s and 2.15 GB with this.

Elsewhere (macOS, Windows, musl) both functions do nothing: those allocators are left as
they are.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import sys
from functools import cache

log = logging.getLogger(__name__)

#: mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: free memory at the top of the heap kept until release_freed_memory (no automatic limit)
KEEP_FREED_BYTES = 2**40


@cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


@cache
def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and keep freed ones there; True where it applies."""
    libc = _glibc()
    if libc is None:
        return False
    kept = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BYTES)
    log.debug("glibc keeps freed memory for reuse: %s", bool(kept))
    return bool(kept)


def release_freed_memory() -> None:
    """Give the memory kept by :func:`keep_freed_memory` back to the system."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
