"""Page images as blobs: grayscale arrays to and from bytes.

Two formats:
- **Stored page images** (each page as rendered, as cleaned and as delivered, read again by
  the next step, by recovery, by the mailroom): `encode_page`, the page's 8-bit pixels
  compressed with zstd level 1 behind a 13-byte header (`LBGZ`, a version byte, height,
  width). Measured on a 300 DPI letter page (8.4 MP): 24 ms to write and 6 ms to read,
  2.6 MB, against PNG's 87 ms, 45 ms and 3.5 MB. No step between two others encodes or
  decodes a PNG.
- **PNG** for people's programs: what a browser is shown and what `letterbridge export`
  writes (`browser_png`), and pages stored before this format (`decode_image` reads them).

`decode_image` reads both, and any image OpenCV reads.

The web app makes a PNG of the same page each time someone opens it at full size. So the last
few PNGs this process encoded or decoded are remembered by their content's SHA-256
(`_Memo`): the PNG of an array already encoded is not made again, and bytes already seen are
not decoded again. Equal content gives equal results, so a hit returns exactly what the codec
would have; callers get their own copy of an array to change.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections import OrderedDict

import cv2
import numpy as np
import zstandard

# Measured on a 300 DPI scanned letter page (OpenCV 5): the default (level 6, adaptive filters)
# takes ~0.5 s; level 1 with the "sub" filter 0.08 s and a smaller file (2.9 MB against 3.0).
# (Stored page images are not PNG: `encode_page`.)
PNG_COMPRESSION = 1
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV ≥ 4.11
    _PNG_PARAMS += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]

# What the memo may hold (arrays and their PNGs): about five 300 DPI letter pages, so the web
# app's memory stays small. Measured on such a page: SHA-256 of the array 5 ms, of its PNG
# 2–3 ms; encoding it as PNG 65–90 ms, decoding 40–55 ms.
MEMO_BYTES = 64 * 1024 * 1024


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


PAGE_MAGIC = b"LBGZ"
PAGE_VERSION = 1
_PAGE_HEADER = struct.Struct("<4sBII")  # magic, version, height, width
PAGE_MEDIA_TYPE = "application/x-letterbridge-page"
PAGE_SUFFIX = ".zst"
# Level 1: higher levels make the file a few per cent smaller at twice the time (measured).
_ZSTD_LEVEL = 1
_local = threading.local()  # zstd's (de)compressor objects are not for two threads at once


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    if not hasattr(_local, "codec"):
        _local.codec = (zstandard.ZstdCompressor(level=_ZSTD_LEVEL),
                        zstandard.ZstdDecompressor())
    return _local.codec


def encode_page(img: np.ndarray) -> bytes:
    """A page image (a grayscale uint8 array) in the stored format (module docstring)."""
    if img.dtype != np.uint8 or img.ndim != 2:
        raise ValueError(f"expected a grayscale uint8 image, got {img.dtype} {img.shape}")
    height, width = img.shape
    return _PAGE_HEADER.pack(PAGE_MAGIC, PAGE_VERSION, height, width) + \
        _zstd()[0].compress(np.ascontiguousarray(img).data)


def is_page_format(data: bytes) -> bool:
    return data[:4] == PAGE_MAGIC


def _decode_page(data: bytes) -> np.ndarray:
    if len(data) < _PAGE_HEADER.size:
        raise ValueError("the bytes are not a readable image (a cut-off page file)")
    _magic, version, height, width = _PAGE_HEADER.unpack_from(data)
    if version != PAGE_VERSION:
        raise ValueError(f"the page file is of version {version}, not {PAGE_VERSION}")
    try:
        raw = _zstd()[1].decompress(data[_PAGE_HEADER.size:], max_output_size=height * width)
    except zstandard.ZstdError as exc:
        raise ValueError(f"the bytes are not a readable image ({exc})") from exc
    if len(raw) != height * width:
        raise ValueError("the bytes are not a readable image (the page file is cut off)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width).copy()


def browser_png(data: bytes) -> bytes:
    """Stored image bytes as a browser or a file viewer takes them: PNG (and JPEG) as they are,
    a stored page image made PNG."""
    return encode_png(_decode_page(data)) if is_page_format(data) else data


def decode_image(data: bytes) -> np.ndarray:
    """Decode a stored page image, PNG, or any image OpenCV reads, to a grayscale uint8 array."""
    if is_page_format(data):
        return _decode_page(data)
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
