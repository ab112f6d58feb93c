"""Page images sized for the screen: a JPEG at a few fixed widths, made from the image a user
is served at full size (for pen pals the delivered, redacted page) and kept beside it.

The cached copy's key carries a hash of the full-size image it was made from, so a page that
is burned again (a box added or removed) gets new copies and the old ones are never served.
"""

from __future__ import annotations

import cv2
import numpy as np

from storage.blobs import BlobNotFound, get_blob_store, sha256_bytes

# Only these widths exist: a fixed set keeps the cache small and the URL unguessable sizes
# from filling the store. 600 fits a phone at 1x and a desktop column; 1200 a phone at 2-3x.
WIDTHS = (600, 1200)
JPEG_QUALITY = 80  # a 300-DPI page at 600 px: ~60-75 KB; text stays readable


class NotAnImage(ValueError):
    """The stored blob is not an image OpenCV can read."""


def variant_key(source_key: str, source_hash: str, width: int) -> str:
    """`items/x/page-2-delivered.png` -> `items/x/screen/page-2-delivered-<hash16>-w600.jpg`."""
    folder, _, name = source_key.rpartition("/")
    stem = name.rsplit(".", 1)[0]
    prefix = f"{folder}/" if folder else ""
    return f"{prefix}screen/{stem}-{source_hash[:16]}-w{width}.jpg"


def encode_for_screen(data: bytes, width: int) -> bytes:
    """The image at `width` px wide (never wider than it is), as a progressive JPEG."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise NotAnImage("the stored page could not be decoded")
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:  # 16-bit scans: JPEG holds 8 bits
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1, int(image.max())))
    height, current = image.shape[:2]
    if current > width:
        # INTER_AREA averages the pixels each screen pixel covers: thin pen strokes survive.
        size = (width, max(1, round(height * width / current)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(
        ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    )
    if not ok:
        raise NotAnImage("the page could not be encoded")
    return encoded.tobytes()


def screen_image(source_key: str, width: int) -> bytes:
    """The screen-sized JPEG of the blob at `source_key`, made once per version of it."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}")
    store = get_blob_store()
    source = store.get(source_key)  # BlobNotFound propagates: no source, no copy
    key = variant_key(source_key, sha256_bytes(source), width)
    try:
        return store.get(key)
    except BlobNotFound:
        pass
    encoded = encode_for_screen(source, width)
    store.put(key, encoded, "image/jpeg")
    return encoded
