"""A freed page's memory goes back to the system (ocr/memory.py)."""

from __future__ import annotations

import subprocess
import sys

# Where glibc puts a 5 MB block (a Letter page is 8 MB) after a 16 MB one was freed: in its
# heap (kept when freed while anything above it lives) or in a mapping of its own.
SCRIPT = """
import ctypes, sys
if sys.argv[1] == "ocr":
    import ocr  # noqa: F401
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(16 << 20))  # freed: glibc's threshold rises to 16 MB
block = libc.malloc(5 << 20)
for line in open("/proc/self/maps"):
    span, *rest = line.split()
    low, high = (int(x, 16) for x in span.split("-"))
    if low <= block < high:
        print("heap" if rest[-1] == "[heap]" else "own mapping")
"""


def where(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_a_page_sized_block_is_its_own_mapping_once_ocr_is_imported() -> None:
    """GIVEN a process that freed a 16 MB block (glibc then serves blocks up to 16 MB from its
    heap, where freed memory stays with the process) WHEN it asks for 5 MB THEN, once `ocr` is
    imported, the block is a mapping of its own (unmapped, back to the system, when freed);
    without `ocr` it comes from the heap — what kept a worker at ~900 MB for two pages."""
    assert where("ocr") == "own mapping"
    assert where("plain") == "heap"
