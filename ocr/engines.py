"""Two OCR engines behind one call, and the rule for which one reads a page.

Tesseract reads every letter page first: it is cheap (about half PP-OCR's CPU a page, 2.6 s
against 5–6 s on the shared benchmark machine) and reads typed pages and clear hands well.
PP-OCR reads again, and its reading is kept, when Tesseract cannot vouch for its own
reading: its real words' mean confidence below `below_confidence`, or more than
`max_doubtful_share` of them below 60. Measured on generated
pages in typed and handwriting fonts (bench/handwriting_bench.py, bench/results/handwriting.md):
every typed page read at 95.8 or more with CER ~0.05 %; below 94 Tesseract's CER climbs to
1–50 % while PP-OCR's stays low, so 94 keeps typed mail on Tesseract alone.
Envelopes are read by Tesseract first too, and by PP-OCR again (`envelopes`) when Tesseract
cannot vouch for the sender it read: a sender block is a few short lines, often handwritten,
where one wrong digit sends a letter to the mailroom, and only the roster can say whether
the reading names someone. That rule is `letters.routing.tesseract_vouches` (ocr/ knows no
roster); measured in bench/results/routing.md.

Both engines give the same `OcrPage`; `OcrPage.engine` says which one read it, and
`read_with` reads an image again with that engine (verification re-reads a burned page with
the engine that read it: Tesseract cannot check what it could not read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from config.settings import Settings
from ocr import ppocr, tesseract
from ocr.tesseract import DOUBTFUL_WORD_CONF
from ocr.types import OcrPage

TESSERACT = tesseract.ENGINE_NAME
PPOCR = ppocr.ENGINE_NAME
ENGINES = (TESSERACT, PPOCR)
_REAL_WORD = re.compile(r"\w", re.UNICODE)


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class EngineRule:
    """When the second engine reads. Callers build it from their settings (`from_settings`)."""

    second_engine: bool = bool(_default("ocr_second_engine"))
    below_confidence: float = float(_default("ocr_second_engine_below_confidence"))
    max_doubtful_share: float = float(_default("ocr_second_engine_max_doubtful_share"))
    envelopes: bool = bool(_default("ocr_second_engine_envelopes"))

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineRule:
        return cls(
            second_engine=settings.ocr_second_engine,
            below_confidence=settings.ocr_second_engine_below_confidence,
            max_doubtful_share=settings.ocr_second_engine_max_doubtful_share,
            envelopes=settings.ocr_second_engine_envelopes,
        )

    @classmethod
    def tesseract_only(cls) -> EngineRule:
        return cls(second_engine=False, envelopes=False)

    def tesseract_vouches(self, page: OcrPage) -> bool:
        """True when Tesseract's reading of a letter page is kept without asking PP-OCR."""
        return vouches(page, self.below_confidence, self.max_doubtful_share)


def vouches(page: OcrPage, below_confidence: float, max_doubtful_share: float) -> bool:
    """Tesseract's own confidences say its reading is good: enough real words, their mean
    confidence at least `below_confidence`, at most `max_doubtful_share` of them doubtful."""
    # Stray punctuation and specks get confidences that say nothing about the text.
    real = [w for w in page.words if _REAL_WORD.search(w.text)]
    if len(real) < 3:
        return False
    mean = sum(w.conf for w in real) / len(real)
    doubtful = sum(1 for w in real if w.conf < DOUBTFUL_WORD_CONF) / len(real)
    return mean >= below_confidence and doubtful <= max_doubtful_share


def read_with(
    engine: str, img: np.ndarray, *, languages: str = "eng+spa", timeout: float = 120,
    page_long_side: int | None = None,
) -> OcrPage:
    """Read an image that is already prepared (upright, as `Prepared.ocr_image`) with the named
    engine, and nothing else: no preprocessing, no second engine, no turning.

    `page_long_side`: `img` is cut from a page that long (bands read again), to be read at the
    page's own scale (PP-OCR's detector; Tesseract reads pixels as they are)."""
    if engine == TESSERACT:
        return tesseract.ocr_image(img, languages=languages, timeout=int(timeout))
    if engine == PPOCR:
        return ppocr.ocr_image(img, languages=languages, timeout=timeout,
                               page_long_side=page_long_side)
    raise ValueError(f"unknown OCR engine {engine!r} (expected one of {', '.join(ENGINES)})")
