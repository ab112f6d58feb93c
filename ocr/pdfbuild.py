"""Searchable PDFs: each page image with its words as invisible, selectable text on top.

Nothing from the original file travels into the PDF: the images are re-encoded, the text is
only the words we are given, and the document information is fixed ("Letterbridge").
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from ocr.types import Word

FONT_NAME = "LetterbridgeSans"
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
JPEG_QUALITY = 80
NEUTRAL = "Letterbridge"

# Without ReportLab's optional C accelerator, ASCII85-encoding a page's JPEG runs in pure Python
# (~0.4 s a page, as long as its OCR); binary streams are smaller too.
rl_config.useA85 = 0


def _font() -> str:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        for candidate in FONT_CANDIDATES:
            if candidate.exists():
                pdfmetrics.registerFont(TTFont(FONT_NAME, str(candidate)))
                break
        else:
            raise RuntimeError("DejaVuSans.ttf is missing (apt-get install fonts-dejavu-core)")
    return FONT_NAME


def _jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the page image could not be encoded")
    return buf.tobytes()


class _Jpeg:
    """A JPEG ReportLab embeds as it is (DCTDecode). Given an `ImageReader`, ReportLab decodes
    the whole image again only to name it by an MD5 of its pixels (~0.1 s a page here, a fifth
    of building a PDF); given an object with `jpeg_fh`, it reads the JPEG's header and copies
    its bytes. Named by a digest of the bytes, so two identical pages still share one image."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._name = hashlib.sha1(data).hexdigest()

    def jpeg_fh(self) -> io.BytesIO:
        return io.BytesIO(self._data)

    def __str__(self) -> str:
        return f"jpeg-{self._name}"


def searchable_pdf(pages: Sequence[tuple[np.ndarray, Sequence[Word]]], *, dpi: int = 300) -> bytes:
    """One PDF page per (image, words); each page sized from its pixels at `dpi`."""
    font = _font()
    out = io.BytesIO()
    # invariant: fixed dates and document ID, so nothing about when or where leaks in.
    pdf = canvas.Canvas(out, pageCompression=1, invariant=1)
    pdf.setTitle(NEUTRAL)
    pdf.setAuthor(NEUTRAL)
    pdf.setCreator(NEUTRAL)
    pdf.setProducer(NEUTRAL)
    pdf.setSubject("")
    pdf.setKeywords("")
    scale = 72.0 / dpi
    for img, words in pages:
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        h_px, w_px = img.shape[:2]
        width, height = w_px * scale, h_px * scale
        pdf.setPageSize((width, height))
        pdf.drawImage(_Jpeg(_jpeg(img)), 0, 0, width=width, height=height)
        _draw_words(pdf, words, font=font, scale=scale, page_height=height)
        pdf.showPage()
    pdf.save()
    return _neutral_header(out.getvalue())


def _neutral_header(data: bytes) -> bytes:
    # ReportLab signs the file in comments (header and trailer); overwrite them with comments of
    # the same length, so that the byte offsets in the cross-reference table stay right.
    return _SIGNATURE.sub(lambda m: NEUTRAL.encode().ljust(len(m.group(0))), data)


_SIGNATURE = re.compile(rb"ReportLab [Gg]enerated PDF document[^\r\n]*")


def _draw_words(
    pdf: canvas.Canvas, words: Sequence[Word], *, font: str, scale: float, page_height: float
) -> None:
    text = pdf.beginText()
    text.setTextRenderMode(3)  # invisible: searchable and selectable, never drawn
    for word in words:
        if not word.text.strip():
            continue
        box_w = (word.x1 - word.x0) * scale
        box_h = (word.y1 - word.y0) * scale
        if box_w <= 0 or box_h <= 0:
            continue
        size = max(1.0, box_h)
        natural = pdfmetrics.stringWidth(word.text, font, size)
        text.setFont(font, size)
        text.setHorizScale(100.0 * box_w / natural if natural > 0 else 100.0)
        # Baseline a little above the box bottom, where descenders end.
        baseline = page_height - word.y1 * scale + 0.2 * box_h
        text.setTextOrigin(word.x0 * scale, baseline)
        text.textOut(word.text)
        # A space after each word keeps words apart when the text is extracted.
        text.setHorizScale(100.0)
        text.textOut(" ")
    pdf.drawText(text)
