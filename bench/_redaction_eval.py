"""Redact generated letters the way the mail-item flow does, and score the result against truth.

Used by `bench.redaction_bench`. One page goes: read_page → letters.redaction (finders,
boxes, the words a pen pal reads) → burn → verify (re-OCR of the burned image) → searchable
PDF → pdftotext. Each planted detail is then looked for in the three things a pen pal could
read: the burned image (re-OCR'd), the redacted text and the PDF's text layer.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from rapidfuzz import fuzz

from letterbridge.samples import PlantedDetail, SampleLetter
from letters.redaction import PiiContext, find_details, pen_pal_words
from ocr.pdfbuild import searchable_pdf
from ocr.pii import Finding, fold_confusions, page_text_with_map
from ocr.pipeline import read_page
from ocr.redact import MARKERS, burn, covers_from_findings, needs_human, verify_page
from ocr.tesseract import ocr_image
from ocr.types import OcrPage, Word, words_to_text

NUMERIC = {"phone", "ssn", "card", "bank"}
MARKER_TEXTS = set(MARKERS.values())


@dataclass
class DetailResult:
    kind: str
    page: int
    located: bool  # the OCR of the page read something close enough to the value to find it
    found: bool  # every OCR character of it lies in a finding
    leaks: list[str] = field(default_factory=list)  # "image", "text", "pdf"


@dataclass
class PageResult:
    index: int  # 1-based page number of the letter file (the envelope is page 1)
    confidence: float
    needs_human: bool
    verified: bool
    problems: list[str]
    details: list[DetailResult]
    ordinary_read: int  # ordinary ground-truth words OCR read
    ordinary_kept: int  # ... and still present in the redacted text
    ordinary_total: int
    seconds: float


@dataclass
class LetterResult:
    id: str
    style: str
    pages: list[PageResult]

    @property
    def auto_released(self) -> bool:
        return all(p.verified and not p.needs_human for p in self.pages)

    @property
    def leaks(self) -> int:
        """Details a pen pal could read: not burned (a person reads the pixels even where OCR
        misread them), or still readable by machine in the image, text or PDF."""
        return sum(1 for p in self.pages for d in p.details if d.leaks or not d.found)


# --- normalising for comparisons ----------------------------------------------------------


def digits(text: str) -> str:
    return re.sub(r"\D", "", fold_confusions(text))


def alnum(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def leak_keys(detail: PlantedDetail) -> list[tuple[str, str]]:
    """What must not be readable anywhere: (mode, key) with mode "digits" or "alnum"."""
    value = detail.value
    if detail.kind in NUMERIC:
        return [("digits", digits(value))]
    if detail.kind == "inmate_number":
        return [("alnum", alnum(value))]
    if detail.kind == "email":
        local = value.split("@")[0]
        return [("alnum", alnum(local))] if len(alnum(local)) >= 4 else [("alnum", alnum(value))]
    if detail.kind == "address":
        lines = [part.strip() for part in re.split(r"\n", value)]
        if len(lines) == 1:  # "12 Oak Street, Waco, TX 76701"
            street, _, city = value.partition(", ")
            lines = [street, city]
        return [("alnum", alnum(line)) for line in lines if alnum(line)]
    return [("alnum", alnum(value))]


def leaked(text: str, detail: PlantedDetail) -> bool:
    flat_digits, flat_alnum = digits(text), alnum(text)
    for mode, key in leak_keys(detail):
        if key and key in (flat_digits if mode == "digits" else flat_alnum):
            return True
    return False


# --- locating a planted value among OCR words -----------------------------------------------


def _canon(c: str) -> str:
    return fold_confusions("0" + c)[1:].upper()  # a lone letter next to a digit folds like one


def locate(words: Sequence[Word], value: str) -> list[int] | None:
    """Word indices where OCR read `value` (tolerating a few misread characters), or None."""
    text, owner = page_text_with_map(words)
    positions = [i for i, c in enumerate(text) if c.isalnum()]
    compact = "".join(_canon(text[i]) for i in positions)
    key = "".join(_canon(c) for c in value if c.isalnum())
    if not key or not compact:
        return None
    hit = fuzz.partial_ratio_alignment(key, compact, score_cutoff=80)
    if hit is None:
        return None
    span = range(hit.dest_start, hit.dest_end)
    chars = Counter(owner[positions[p]] for p in span)
    found = sorted(chars)

    def score(words: list[int]) -> float:
        return fuzz.ratio(key, "".join(compact[p] for p in span if owner[positions[p]] in words))

    # A word at either end that the value matches as well without is a neighbour pulled in by a
    # reading shorter than the value ("to" before "tco@example.con", "AT" before "8O6 555 O4"),
    # and so is one the alignment only grazes (one character: "AT" before "315 555 015)").
    while len(found) > 1 and (chars[found[0]] == 1 or score(found[1:]) >= score(found)):
        found.pop(0)
    while len(found) > 1 and (chars[found[-1]] == 1 or score(found[:-1]) >= score(found)):
        found.pop()
    return found


# --- ordinary words ----------------------------------------------------------------------------


def _tokens(text: str) -> Counter[str]:
    return Counter(t for t in (alnum(w) for w in text.split()) if t)


def ordinary_words(page_text: str, details: Sequence[PlantedDetail]) -> Counter[str]:
    text = page_text
    for detail in details:
        for line in detail.value.split("\n"):
            text = text.replace(line, " ")
    return _tokens(text)


# --- one page, one letter ----------------------------------------------------------------------


def pdf_text(image: np.ndarray, words: Sequence[Word]) -> str:
    pdf = searchable_pdf([(image, list(words))])
    proc = subprocess.run(
        ["pdftotext", "-q", "-", "-"], input=pdf, capture_output=True, timeout=60, check=True
    )
    return proc.stdout.decode("utf-8", "replace")


def redact_page(
    img: np.ndarray,
    *,
    sender_number: str,
    watch_terms: Sequence[str],
    known_inmate_numbers: Sequence[str] = (),
) -> tuple[OcrPage, list[Finding], np.ndarray, list[Word], OcrPage, list[str]]:
    """What the flow does for one letter page; returns everything a check needs."""
    prepared, page = read_page(img)
    # The shipped path: the letter's PII context, its boxes, and the words a pen pal reads.
    context = PiiContext(sender_number=sender_number, watch_terms=list(watch_terms),
                         known_inmate_numbers=list(known_inmate_numbers))
    findings = find_details(page.words, context)
    covers = covers_from_findings(findings)
    burned = burn(prepared.image, [c.box for c in covers])
    words = pen_pal_words(page.words, covers)
    reread: list[OcrPage] = []

    def ocr(image: np.ndarray) -> OcrPage:
        reread.append(ocr_image(image))
        return reread[-1]

    verification = verify_page(
        burned,
        ocr=ocr,
        sender_number=sender_number,
        watch_terms=watch_terms,
        known_inmate_numbers=known_inmate_numbers,
    )
    problems = [] if verification.passed else verification.problems
    return page, findings, burned, words, reread[0] if reread else OcrPage(), problems


def evaluate_letter(
    letter: SampleLetter,
    *,
    watch_terms: Sequence[str],
    known_inmate_numbers: Sequence[str] = (),
) -> LetterResult:
    import time

    pages: list[PageResult] = []
    for i in range(1, len(letter.pages)):  # pages[0] is the envelope, never shown to a pen pal
        started = time.perf_counter()
        page_no = i + 1
        page, findings, burned, words, reread, problems = redact_page(
            letter.pages[i],
            sender_number=letter.sender.inmate_number,
            watch_terms=watch_terms,
            known_inmate_numbers=known_inmate_numbers,
        )
        delivered_text = words_to_text(words)
        # Markers ("[phone removed]") are not the letter's words; "phone" must not count as kept.
        delivered_words = " ".join(w.text for w in words if w.text not in MARKER_TEXTS)
        layer = pdf_text(burned, words)
        covered = {w for f in findings for w in f.word_indices}
        here = [d for d in letter.details if d.page == page_no]
        results = []
        for detail in here:
            where = locate(page.words, detail.value)
            leaks = [
                name
                for name, text in (("image", reread.text), ("text", delivered_text), ("pdf", layer))
                if leaked(text, detail)
            ]
            results.append(
                DetailResult(
                    detail.kind,
                    page_no,
                    located=where is not None,
                    found=where is not None and set(where) <= covered,
                    leaks=leaks,
                )
            )
        truth = ordinary_words(letter.page_texts[i], here)
        read = truth & _tokens(page.text)
        kept = read & _tokens(delivered_words)
        pages.append(
            PageResult(
                index=page_no,
                confidence=page.confidence,
                needs_human=needs_human(page),
                verified=not problems,
                problems=problems,
                details=results,
                ordinary_read=sum(read.values()),
                ordinary_kept=sum(kept.values()),
                ordinary_total=sum(truth.values()),
                seconds=time.perf_counter() - started,
            )
        )
    return LetterResult(letter.id, letter.style, pages)


# --- the ink of a planted value ---------------------------------------------------------------


def page_shift(clean: np.ndarray, image: np.ndarray) -> tuple[float, float, float]:
    """How far the pipeline's upright page `image` lies from the generator's clean page:
    (dx, dy, response) by phase correlation of the ink at half size. A response below ~0.3
    means the two do not line up (a page the pipeline turned the wrong way)."""
    h, w = max(clean.shape[0], image.shape[0]), max(clean.shape[1], image.shape[1])

    def ink(a: np.ndarray) -> np.ndarray:
        out = np.zeros((h, w), np.float32)
        out[: a.shape[0], : a.shape[1]] = 255 - a.astype(np.float32)
        return cv2.resize(out, (w // 2, h // 2), interpolation=cv2.INTER_AREA)

    (dx, dy), response = cv2.phaseCorrelate(ink(clean), ink(image))
    return 2 * dx, 2 * dy, response


def detail_ink(clean: np.ndarray, detail: PlantedDetail, shift: tuple[float, float, float], *,
               limit: int = 300) -> list[tuple[int, int]]:
    """Up to `limit` ink pixels of a planted value (from the clean page, inside its line boxes),
    where they lie on the pipeline's upright page."""
    points: list[tuple[int, int]] = []
    for x0, y0, x1, y1 in detail.line_boxes or [detail.box]:
        ys, xs = np.nonzero(clean[y0:y1, x0:x1] < 128)
        points += [(int(x + x0), int(y + y0)) for x, y in zip(xs, ys, strict=True)]
    step = max(1, len(points) // limit)
    dx, dy, _ = shift
    return [(round(x + dx), round(y + dy)) for x, y in points[::step]]


def ink_burned(points: Sequence[tuple[int, int]], boxes: Sequence[tuple[int, int, int, int]],
               *, margin: int = 2) -> float:
    """Share of the value's ink points that lie under a box (0 when it has no ink)."""
    if not points:
        return 0.0
    inside = sum(any(x0 - margin <= x < x1 + margin and y0 - margin <= y < y1 + margin
                     for x0, y0, x1, y1 in boxes) for x, y in points)
    return inside / len(points)
