"""Cut a scanner run into letters: classify each page, then group pages into letters.

Classifying looks at pixels only (no OCR): separator sheet, blank page, envelope, letter.
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

import numpy as np

from ocr.envelope import looks_like_envelope

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
    from ocr.preprocess import is_blank
    from ocr.separator import is_separator

    if is_separator(img):
        return SEPARATOR
    if is_blank(img):
        return BLANK
    if looks_like_envelope(img):
        return ENVELOPE
    return LETTER


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
