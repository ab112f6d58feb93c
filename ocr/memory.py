"""Freed page buffers go back to the system, so a worker's memory follows the pages in hand.

A page at 300 DPI is 8–17 MB as an array, and each step makes a few short-lived copies (the
cleaned page, PP-OCR's inputs, the burned page, the PNG being encoded). glibc serves blocks of
that size from its heap once its mmap threshold has grown past them (it grows each time a large
block is freed), and heap memory is not handed back while anything above it lives: a
two-thread worker held ~900 MB for two Letter pages. With the threshold fixed at 4 MB, each
large block is its own mapping, unmapped when freed (bench/results/odd_files.md: before/after).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD_BYTES = 4 << 20  # page-sized blocks only: smaller ones stay cheap

_done = False
_lock = threading.Lock()


def return_freed_pages() -> bool:
    """Fix glibc's mmap threshold for this process (once); False where there is no glibc."""
    global _done
    with _lock:
        if _done:
            return True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            mallopt = libc.mallopt if libc is not None else None
        except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
            return False
        if mallopt is None:
            return False
        _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
        return _done
