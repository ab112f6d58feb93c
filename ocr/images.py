"""PNG bytes to and from grayscale page arrays (how page images travel as blobs).

A page image is encoded and decoded several times on its way through one process: rendered,
cleaned, burned, each stored as PNG and read back by the next step (OCR, redaction,
verification), each step its own task. The last few images this process encoded or decoded
are remembered by their content's SHA-256 (`_Memo`): the PNG of an array already encoded is
not made again (a page with nothing to burn is delivered as it was cleaned), and bytes
already seen are not decoded again. Equal content gives equal results, so a hit returns
exactly what the codec would have; callers get their own copy of an array to change.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import cv2
import numpy as np

# Measured on a 300 DPI scanned letter page (OpenCV 5): the default (level 6, adaptive filters)
# takes ~0.5 s; level 1 with the "sub" filter 0.08 s and a smaller file (2.9 MB against 3.0).
# Page images are written three times per page (raster, cleaned, burned), so this matters.
PNG_COMPRESSION = 1
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV ≥ 4.11
    _PNG_PARAMS += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]

# What the memo may hold (arrays and their PNGs): a dozen 300 DPI letter pages. Measured on
# such a page: SHA-256 of the array 5 ms, of its PNG 2–3 ms; encoding it 65–90 ms, decoding
# 40–55 ms.
MEMO_BYTES = 160 * 1024 * 1024


def _digest(data: bytes | memoryview, *header: object) -> bytes:
    hasher = hashlib.sha256(repr(header).encode())
    hasher.update(data)
    return hasher.digest()


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _gray8_png(data: bytes) -> bool:
    """An 8-bit grayscale PNG (IHDR: bit depth 8, colour type 0), decoded without a change."""
    return len(data) > 26 and data[:8] == _PNG_SIGNATURE and data[24] == 8 and data[25] == 0


def _array_digest(img: np.ndarray) -> bytes:
    img = np.ascontiguousarray(img)
    return _digest(memoryview(img).cast("B"), img.shape, img.dtype.str)


class _Memo:
    """Arrays and their PNG bytes, by the digest of each, least recently used out first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[bytes, tuple[np.ndarray, bytes, bytes]] = OrderedDict()
        self._by_png: dict[bytes, bytes] = {}  # PNG digest → array digest
        self._size = 0
        self._lock = threading.Lock()

    def png(self, array_digest: bytes) -> bytes | None:
        with self._lock:
            entry = self._entries.get(array_digest)
            if entry is None:
                return None
            self._entries.move_to_end(array_digest)
            return entry[1]

    def array(self, png_digest: bytes) -> np.ndarray | None:
        with self._lock:
            key = self._by_png.get(png_digest)
            if key is None:
                return None
            self._entries.move_to_end(key)
            return self._entries[key][0].copy()

    def keep(self, array_digest: bytes, img: np.ndarray, png_digest: bytes, png: bytes) -> None:
        size = img.nbytes + len(png)
        if size > self.max_bytes:
            return
        frozen = img.copy()  # the caller's array may change later; ours may not
        frozen.flags.writeable = False
        with self._lock:
            if array_digest in self._entries:
                return
            self._entries[array_digest] = (frozen, png, png_digest)
            self._by_png[png_digest] = array_digest
            self._size += size
            while self._size > self.max_bytes:
                _key, (old_img, old_png, old_digest) = self._entries.popitem(last=False)
                self._size -= old_img.nbytes + len(old_png)
                self._by_png.pop(old_digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_png.clear()
            self._size = 0


_memo = _Memo(MEMO_BYTES)


def encode_png(img: np.ndarray) -> bytes:
    """Encode a grayscale (or BGR) uint8 image as PNG."""
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    key = _array_digest(img)
    known = _memo.png(key)
    if known is not None:
        return known
    ok, buf = cv2.imencode(".png", img, _PNG_PARAMS)
    if not ok:
        raise ValueError("the image could not be encoded as PNG")
    png = buf.tobytes()
    _memo.keep(key, img, _digest(png), png)
    return png


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG (or any image OpenCV reads) bytes to a grayscale uint8 array."""
    png_key = _digest(data)
    known = _memo.array(png_key)
    if known is not None:
        return known
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("the bytes are not a readable image")
    if _gray8_png(data):  # only bytes encode_png could have made stand for the array
        _memo.keep(_array_digest(img), img, png_key, bytes(data))
    return img
