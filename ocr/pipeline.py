"""One page, start to finish: prepare, read, return both (the flow's one call per page).

Which engine reads it is `ocr.engines.EngineRule`'s: Tesseract first (and its reading settles
which way up the page is), PP-OCR again when Tesseract cannot vouch for its reading.
Envelopes are read here by Tesseract alone (`ocr.envelope.read_envelope`): whether it vouches
for one is a question for the roster (`letters.routing`).
"""

from __future__ import annotations

import time

import numpy as np

from ocr import ppocr
from ocr.engines import EngineRule
from ocr.errors import OcrFailed
from ocr.preprocess import Prepared, PreprocessOptions, prepare, turned_over
from ocr.tesseract import mean_confidence, ocr_image
from ocr.types import OcrPage

# However the first turn was chosen (the ink's cues, OSD or a guess), a reading below
# this mean confidence is checked against the page half a turn round. Measured: upright
# pages read at 94–96 (typed, most hands) or 65–69 (the hardest hand), the same pages upside
# down at 40–63.
CHECK_TURN_BELOW = 75.0
# The check reads the middle of the page only (rows 30–70%): a third of a reading.
CHECK_BAND = (0.3, 0.7)
CHECK_MARGIN = 5.0  # confidence points the turned band must win by


def read_page(
    img: np.ndarray,
    *,
    languages: str = "eng+spa",
    options: PreprocessOptions | None = None,
    timeout: int = 120,
    rule: EngineRule | None = None,
) -> tuple[Prepared, OcrPage]:
    """Prepare → OCR. Word boxes are in `prepared.image` coordinates; a blank page skips OCR.

    Which way up a page is, is settled by Tesseract's reading (the ink's cues only choose the
    first turn tried): a page that reads badly has the middle of its page read again half a
    turn round, and is read again whole only when that reads better. Then PP-OCR reads the
    upright page when `rule` (default: `EngineRule()`, the settings' defaults) says Tesseract
    cannot vouch for it.
    """
    started = time.perf_counter()
    rule = rule or EngineRule()
    prepared = prepare(img, options, osd=False)
    h, w = prepared.image.shape[:2]
    if prepared.blank:
        page = OcrPage(width=w, height=h, language="", needs_transcription=False)
    else:
        page = ocr_image(prepared.ocr_image, languages=languages, timeout=timeout)
        # The ink's cues can agree and be wrong (a typed page of short lines was turned upside
        # down): a page that reads badly is checked however its turn was chosen.
        if prepared.orientation and page.confidence < CHECK_TURN_BELOW:
            prepared, page = _check_turn(prepared, page, languages=languages, timeout=timeout)
        if rule.second_engine and not rule.tesseract_vouches(page):
            page = second_reading(prepared.ocr_image, page, languages=languages,
                                  timeout=timeout)
    page.rotation = prepared.rotation
    page.skew = prepared.skew
    page.timings = {**prepared.timings, **page.timings}
    page.timings["preprocess"] = sum(prepared.timings.values())
    page.timings["total"] = time.perf_counter() - started
    return prepared, page


def second_reading(
    ocr_img: np.ndarray, first: OcrPage, *, languages: str, timeout: int
) -> OcrPage:
    """PP-OCR's reading of a prepared image (`Prepared.ocr_image`) Tesseract has read as
    `first`; it keeps `first`'s turn and timings. When PP-OCR fails or times out, Tesseract's
    reading stands and a person is asked to check it; PP-OCR missing is an error (the setting
    that switches it off says so)."""
    try:
        page = ppocr.ocr_image(ocr_img, languages=languages, timeout=timeout)
    except ppocr.PpocrMissing:
        raise
    except OcrFailed:
        first.needs_transcription = True
        first.timings["ppocr_failed"] = 1.0
        return first
    page.rotation, page.skew = first.rotation, first.skew
    page.timings = {**first.timings, **page.timings}
    return page


def _check_turn(
    prepared: Prepared, page: OcrPage, *, languages: str, timeout: int
) -> tuple[Prepared, OcrPage]:
    """Read the middle band half a turn round; keep whichever way reads better."""
    other = turned_over(prepared)
    h = other.ocr_image.shape[0]
    y0, y1 = int(h * CHECK_BAND[0]), int(h * CHECK_BAND[1])
    band = ocr_image(other.ocr_image[y0:y1], languages=languages, timeout=timeout)
    spent = page.timings["tesseract"] + band.timings["tesseract"]
    # The band is symmetric about the middle, so it is the same rows in the current reading.
    here = [wd for wd in page.words if y0 <= (wd.y0 + wd.y1) / 2 < y1]
    if len(band.words) >= 5 and len(here) >= 5:
        better = band.confidence > mean_confidence(here) + CHECK_MARGIN
    else:  # too little in the middle to judge: read the whole page turned
        better = True
    if better:
        again = ocr_image(other.ocr_image, languages=languages, timeout=timeout)
        spent += again.timings["tesseract"]
        if again.confidence > page.confidence:
            prepared, page = other, again
    page.timings["tesseract"] = spent
    return prepared, page
