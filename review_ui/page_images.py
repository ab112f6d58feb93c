"""Page images sized for the screen: a JPEG at a few fixed widths, made from the image a user
is served at full size (for pen pals the delivered, redacted page) and kept beside it.

The cached copy's key carries a hash of the full-size image it was made from, so a page that
is burned again (a box added or removed) gets new copies and the old ones are never served.
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr.images import decode_image, is_page_format
from storage.blobs import BlobNotFound, BlobStore, get_blob_store, sha256_bytes

# Only these widths exist: a fixed set keeps the cache small (no ?w= of one's own choosing
# fills the store). 600 fits a phone at 1x and a desktop column; 1200 a phone at 2-3x.
WIDTHS = (600, 1200)
JPEG_QUALITY = 80  # a 300-DPI page at 600 px: ~55 KB, at 1200 px ~150 KB; text stays readable


class NotAnImage(ValueError):
    """The stored blob is not an image OpenCV can read."""


def variant_key(source_key: str, source_hash: str, width: int) -> str:
    """`items/x/page-2-delivered.png` -> `items/x/screen/page-2-delivered-<hash16>-w600.jpg`."""
    folder, _, name = source_key.rpartition("/")
    stem = name.rsplit(".", 1)[0]
    prefix = f"{folder}/" if folder else ""
    return f"{prefix}screen/{stem}-{source_hash[:16]}-w{width}.jpg"


def _pointer_key(source_key: str, width: int) -> str:
    """Where the key of the newest copy at `width` is kept, so a superseded one is deleted."""
    folder, _, name = source_key.rpartition("/")
    prefix = f"{folder}/" if folder else ""
    return f"{prefix}screen/{name.rsplit('.', 1)[0]}-w{width}.current"


def _decode(data: bytes) -> np.ndarray:
    if is_page_format(data):  # a stored page image (ocr.images.encode_page)
        try:
            return decode_image(data)
        except ValueError as exc:
            raise NotAnImage("the stored page could not be decoded") from exc
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise NotAnImage("the stored page could not be decoded")
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:  # 16-bit scans: JPEG holds 8 bits
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1, int(image.max())))
    return image


def _shrink(image: np.ndarray, width: int) -> np.ndarray:
    height, current = image.shape[:2]
    if current <= width:  # never wider than the page is
        return image
    # INTER_AREA averages the pixels each screen pixel covers: thin pen strokes survive.
    size = (width, max(1, round(height * width / current)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _jpeg(image: np.ndarray) -> bytes:
    # Baseline, not progressive: the same size here and a sixth of the encoding time.
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise NotAnImage("the page could not be encoded")
    return encoded.tobytes()


def encode_for_screen(data: bytes, widths: tuple[int, ...] = WIDTHS) -> dict[int, bytes]:
    """The image at each width (never wider than it is), as JPEGs, from one decode.

    Widest first, each narrower one shrunk from the one before: decoding the full page is the
    dearest step, and shrinking 1200 px to 600 px costs a fraction of shrinking 2550 px."""
    image = _decode(data)
    out = {}
    for width in sorted(widths, reverse=True):
        image = _shrink(image, width)
        out[width] = _jpeg(image)
    return out


def screen_image(source_key: str, width: int) -> bytes:
    """The screen-sized JPEG of the blob at `source_key`, made once per version of it (all
    widths together, since a reader on another screen will want another)."""
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}")
    store = get_blob_store()
    source = store.get(source_key)  # BlobNotFound propagates: no source, no copy
    digest = sha256_bytes(source)
    try:
        return store.get(variant_key(source_key, digest, width))
    except BlobNotFound:
        pass
    made = encode_for_screen(source)
    for each, encoded in made.items():
        key = variant_key(source_key, digest, each)
        store.put(key, encoded, "image/jpeg")
        _supersede(store, _pointer_key(source_key, each), key)
    return made[width]


def _supersede(store: BlobStore, pointer: str, key: str) -> None:
    """Delete the copy of an earlier version of the page (made before a box was added): it is
    never served again (its key names the old hash), and it shows less redaction than the page
    now has. A request still serving it finds it gone and makes its own copy, so no order of
    events breaks."""
    try:
        previous = store.get(pointer).decode()
    except BlobNotFound:
        previous = ""
    if previous and previous != key:
        store.delete(previous)
    store.put(pointer, key.encode(), "text/plain")
