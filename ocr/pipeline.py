"""One page, start to finish: prepare the image, read it, return both (the flow's one call per page)."""

from __future__ import annotations

import time

import numpy as np

from ocr.preprocess import Prepared, PreprocessOptions, prepare
from ocr.tesseract import ocr_image
from ocr.types import OcrPage


def read_page(
    img: np.ndarray,
    *,
    languages: str = "eng+spa",
    options: PreprocessOptions | None = None,
    timeout: int = 120,
) -> tuple[Prepared, OcrPage]:
    """Prepare → OCR. Word boxes are in `prepared.image` coordinates; a blank page skips Tesseract."""
    started = time.perf_counter()
    prepared = prepare(img, options)
    h, w = prepared.image.shape[:2]
    if prepared.blank:
        page = OcrPage(width=w, height=h, language="", needs_transcription=False)
    else:
        page = ocr_image(prepared.ocr_image, languages=languages, timeout=timeout)
    page.rotation = prepared.rotation
    page.skew = prepared.skew
    page.timings = {**prepared.timings, **page.timings}
    page.timings["preprocess"] = sum(prepared.timings.values())
    page.timings["total"] = time.perf_counter() - started
    return prepared, page
