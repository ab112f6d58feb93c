"""Cut a scanner run into letters: classify each page, then group pages into letters.

Classifying looks at pixels only (no OCR): separator sheet (its QR code, or, when the code
is damaged, its frame and the dense block where the code was), blank page, envelope, letter.
Grouping (`split_run`) is pure and keeps page order. The rules, from the mailroom's habits:

* a separator sheet starts a new letter and is itself dropped;
* without a separator, an envelope starts a new letter (the envelope is the letter's first
  page: its sender block is what routes the letter); an envelope page right after another
  is that envelope's back and stays with it;
* blank pages (the backs of a duplex scan) are dropped;
* a letter page before any envelope or separator starts a letter too;
* an unreadable separator (classified as a letter or a blank) does no harm: the envelope
  after it still starts the next letter.
Empty groups (two separators in a row, a run that ends with one) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ocr.envelope import looks_like_envelope
from ocr.preprocess import is_blank
from ocr.separator import is_separator

SEPARATOR = "separator"
BLANK = "blank"
ENVELOPE = "envelope"
LETTER = "letter"


@dataclass
class PageInfo:
    source_page: int  # 1-based page number in the scanned file
    kind: str  # "envelope" | "letter" | "blank" | "separator"


def classify_page(img: np.ndarray) -> str:
    """separator → blank → envelope → letter, cheapest reliable test first that can decide."""
    if is_separator(img):
        return SEPARATOR
    if is_blank(img):
        return BLANK
    if looks_like_envelope(img):
        return ENVELOPE
    if looks_like_damaged_separator(img):
        return SEPARATOR
    return LETTER


# The separator sheet (ocr.separator) has a thick frame ~0.3 in inside the page edge and a
# 3.6 in QR code in the middle. A sheet whose QR no longer reads (coffee, a tear, a crease)
# still has both; a letter has neither a page-sized frame nor a dense square of ink.
_FRAME_MIN_AREA = 0.80  # of the page
_FRAME_SIDE_COVER = 0.80  # share of each side of the frame that is dark
_QR_MIN_INK = 0.15  # share of the middle of the sheet that is dark


def looks_like_damaged_separator(img: np.ndarray) -> bool:
    """A separator sheet whose QR code can't be decoded, recognised by its frame and the dense
    block where the code was (~10 ms)."""
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    step = max(1, max(gray.shape) // 800)
    small = np.ascontiguousarray(gray[::step, ::step])
    h, w = small.shape
    if not 1.2 <= max(h, w) / min(h, w) <= 1.7:
        return False  # the sheet is letter or A4 paper
    dark = (small < 110).astype(np.uint8)
    contours, _ = cv2.findContours(dark, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return False
    frame = max(contours, key=cv2.contourArea)
    (cx, cy), (fw, fh), angle = cv2.minAreaRect(frame)
    if fw * fh < _FRAME_MIN_AREA * w * h:
        return False
    corners = cv2.boxPoints(((cx, cy), (fw, fh), angle))
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        ts = np.linspace(0.05, 0.95, 60)
        pts = a[None, :] + ts[:, None] * (b - a)[None, :]
        hits = 0
        for x, y in pts:
            x0, y0 = int(round(x)), int(round(y))
            patch = dark[max(0, y0 - 3) : y0 + 4, max(0, x0 - 3) : x0 + 4]
            hits += bool(patch.size and patch.any())
        if hits / len(ts) < _FRAME_SIDE_COVER:
            return False
        # Outside the frame is the sheet's white margin, not a dark scanner background.
        mid = (a + b) / 2
        out = mid + (mid - np.array([cx, cy])) / np.linalg.norm(mid - np.array([cx, cy])) * (
            0.015 * max(w, h)
        )
        ox, oy = int(round(out[0])), int(round(out[1]))
        if (
            not (0 <= ox < w and 0 <= oy < h)
            or dark[max(0, oy - 2) : oy + 3, max(0, ox - 2) : ox + 3].mean() > 0.2
        ):
            return False
    middle = dark[int(0.38 * h) : int(0.70 * h), int(0.3 * w) : int(0.7 * w)]
    return bool(middle.size) and float(middle.mean()) >= _QR_MIN_INK


def split_run(pages: list[PageInfo]) -> list[list[PageInfo]]:
    """Group the pages of a run into letters (see the module docstring for the rules)."""
    letters: list[list[PageInfo]] = []
    current: list[PageInfo] = []
    for page in pages:
        if page.kind == SEPARATOR:
            if current:
                letters.append(current)
            current = []
        elif page.kind == BLANK:
            continue
        elif page.kind == ENVELOPE and current and current[-1].kind != ENVELOPE:
            # Right after a separator `current` is empty and the envelope joins that letter;
            # anywhere else an envelope is the first page of the next letter, except right
            # after another envelope page: that is the envelope's back (the flap often
            # carries the return address), scanned duplex.
            letters.append(current)
            current = [page]
        else:
            current.append(page)
    if current:
        letters.append(current)
    return letters
