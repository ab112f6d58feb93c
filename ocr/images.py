"""PNG bytes to and from grayscale page arrays (how page images travel as blobs)."""

from __future__ import annotations

import cv2
import numpy as np

# Measured on a 300 DPI scanned letter page (OpenCV 5): the default (level 6, adaptive filters)
# takes ~0.5 s; level 1 with the "sub" filter 0.08 s and a smaller file (2.9 MB against 3.0).
# Page images are written three times per page (raster, cleaned, burned), so this matters.
PNG_COMPRESSION = 1
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV ≥ 4.11
    _PNG_PARAMS += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]


def encode_png(img: np.ndarray) -> bytes:
    """Encode a grayscale (or BGR) uint8 image as PNG."""
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {img.dtype}")
    ok, buf = cv2.imencode(".png", img, _PNG_PARAMS)
    if not ok:
        raise ValueError("the image could not be encoded as PNG")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """Decode PNG (or any image OpenCV reads) bytes to a grayscale uint8 array."""
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("the bytes are not a readable image")
    return img
