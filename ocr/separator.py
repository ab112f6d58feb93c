"""The separator sheet put between letters in a scanner run: drawing it and recognising it."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFont

SEPARATOR_PAYLOAD = "LETTERBRIDGE:SEPARATOR"

_BOLD_FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
]
# Longest side of the first, cheap look. The QR is about 3.6 in wide, so its modules stay
# about 9 px wide at this scale.
_FIRST_LOOK = 900


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _BOLD_FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _centered(draw: ImageDraw.ImageDraw, y: int, text: str, size: int, width: int) -> None:
    font = _font(size)
    while draw.textlength(text, font=font) > width * 0.9 and size > 10:
        size -= 4
        font = _font(size)
    draw.text((width // 2, y), text, font=font, fill=0, anchor="mm")


@lru_cache(maxsize=4)
def _sheet(dpi: int) -> np.ndarray:
    w, h = round(8.5 * dpi), round(11 * dpi)
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    s = dpi / 300
    qr = segno.make(SEPARATOR_PAYLOAD, error="h", micro=False)
    matrix = np.array([list(row) for row in qr.matrix], dtype=bool)
    module = max(4, int(1080 * s) // matrix.shape[0])
    qr_img = np.where(np.kron(matrix, np.ones((module, module), dtype=bool)), 0, 255).astype(
        np.uint8
    )
    side = qr_img.shape[0]
    x0, y0 = (w - side) // 2, int(1250 * s)
    img.paste(Image.fromarray(qr_img), (x0, y0))  # the quiet zone is the white page around it

    _centered(draw, int(450 * s), "LETTERBRIDGE", int(220 * s), w)
    _centered(draw, int(750 * s), "— SEPARATOR SHEET —", int(150 * s), w)
    _centered(draw, int(980 * s), "put one before each letter", int(90 * s), w)
    _centered(draw, y0 + side + int(260 * s), "This page is removed automatically.", int(60 * s), w)
    _centered(
        draw, y0 + side + int(360 * s), "Scan it face up, in any orientation.", int(60 * s), w
    )
    m = int(90 * s)
    draw.rectangle([m, m, w - m, h - m], outline=0, width=max(2, int(12 * s)))
    return np.asarray(img)


def separator_sheet_image(dpi: int = 300) -> np.ndarray:
    """The separator sheet as a grayscale US Letter page."""
    return _sheet(dpi).copy()


def separator_sheet_pdf() -> bytes:
    """A one-page, print-ready PDF of the sheet (1-bit, CCITT G4 compressed)."""
    img = Image.fromarray(separator_sheet_image(300)).convert("1")
    buf = io.BytesIO()
    img.save(buf, "PDF", resolution=300.0, title="Letterbridge separator sheet")
    return buf.getvalue()


def _decode(img: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """(payload or None, the corners of a QR-like pattern or None)."""
    try:
        payload, points, _ = cv2.QRCodeDetector().detectAndDecode(img)
    except cv2.error:
        return None, None
    return (payload or None), points


def is_separator(img: np.ndarray) -> bool:
    """True when the page carries the separator QR code with our payload.

    A look at a downscaled copy decides nearly every page. When it finds a QR-like pattern
    that does not decode, that region alone is read again from the full-size image, so text
    that merely resembles a QR never costs a full-page decode.
    """
    if img is None or img.size == 0:
        return False
    if img.ndim == 3:
        code = cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        img = cv2.cvtColor(img, code)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    scale = min(1.0, _FIRST_LOOK / max(h, w))
    small = img
    if scale < 1.0:
        small = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    payload, points = _decode(small)
    if payload is not None:
        return payload == SEPARATOR_PAYLOAD
    if points is None or scale >= 1.0:
        return False
    corners = points.reshape(-1, 2) / scale
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    pad = 0.25 * max(x1 - x0, y1 - y0) + 20
    x0, y0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    x1, y1 = min(w, int(x1 + pad)), min(h, int(y1 + pad))
    if x1 - x0 < 40 or y1 - y0 < 40:
        return False
    crop = img[y0:y1, x0:x1]
    side = max(crop.shape)
    if side > 1400:  # the QR's modules stay well over 10 px at this size
        f = 1400 / side
        crop = cv2.resize(
            crop, (round(crop.shape[1] * f), round(crop.shape[0] * f)), interpolation=cv2.INTER_AREA
        )
    payload, _ = _decode(crop)
    return payload == SEPARATOR_PAYLOAD
