"""Burn redactions into page pixels, build the redacted words/text, verify, and decide what waits.

What a pen pal receives is made only from the outputs here: `burn` gives the image, and
`words_after_redaction` gives the words for the text and for the PDF's text layer, from the
same boxes. A word under a box never reaches either, so a black box over a live text layer
cannot happen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ocr.pii import (
    Finding,
    TextFinding,
    canonical_id,
    find_pii,
    fold_confusions,
    sender_key,
)
from ocr.types import Box, OcrPage, Word, words_to_text

MARKERS = {
    "phone": "[phone removed]",
    "ssn": "[SSN removed]",
    "email": "[email removed]",
    "address": "[address removed]",
    "card": "[card number removed]",
    "bank": "[bank number removed]",
    "inmate_number": "[inmate number removed]",
    "number": "[number removed]",
    "watch_term": "[removed]",
    "manual": "[removed]",
}


def marker(kind: str) -> str:
    """The text that stands where a value of this kind was; unknown kinds get the plain one."""
    return MARKERS.get(kind, MARKERS["manual"])


# Burned boxes grow by this much: OCR's word boxes sit tight on the ink, and anti-aliased
# edges of strokes reach a few pixels past them.
BURN_PAD = 8


def burn(img: np.ndarray, boxes: Sequence[Box], *, pad: int = BURN_PAD) -> np.ndarray:
    """A new image with each box (grown by `pad` pixels, clipped to the image) painted black."""
    out = img.copy()
    height, width = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        left, top = max(0, int(x0) - pad), max(0, int(y0) - pad)
        right, bottom = min(width, int(x1) + pad), min(height, int(y1) + pad)
        if right > left and bottom > top:
            out[top:bottom, left:right] = 0
    return out


# A word counts as covered when this share of its box lies under a redaction box: a box
# drawn a little short (a person's, or one on a misread word) still takes the whole word out
# of the text, while a neighbour touched by a pixel or two of a box stays readable.
COVERED_SHARE = 0.05


@dataclass(frozen=True)
class Cover:
    """A redaction box and the kind of value it hides (its marker in the text)."""

    kind: str
    box: Box


def covers_from_findings(findings: Sequence[Finding]) -> list[Cover]:
    """The boxes the finders propose, one per line segment of each finding."""
    return [Cover(f.kind, tuple(box)) for f in findings for box in f.boxes]


def _covered_share(word: Word, box: Box) -> float:
    x0, y0 = max(word.x0, box[0]), max(word.y0, box[1])
    x1, y1 = min(word.x1, box[2]), min(word.y1, box[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return (x1 - x0) * (y1 - y0) / max(1, (word.x1 - word.x0) * (word.y1 - word.y0))


def words_after_redaction(words: Sequence[Word], covers: Sequence[Cover]) -> list[Word]:
    """The words a pen pal may read, for the redacted text and the PDF's text layer alike.

    Every word under a box is gone. Each run of covered words (one after another in reading
    order, hidden by boxes of one kind) becomes one marker word where the run starts, with the
    box of the run's first line; a run may go on over a line break (an address). The input
    words are not modified.
    """
    out: list[Word] = []
    run_kind: str | None = None
    run_line: tuple[int, int, int] | None = None
    for word in words:
        cover = next((c for c in covers if _covered_share(word, c.box) >= COVERED_SHARE), None)
        if cover is None:
            out.append(replace(word))
            run_kind = None
            continue
        if run_kind == cover.kind:
            if word.line_key == run_line:
                last = out[-1]
                out[-1] = replace(last, x0=min(last.x0, word.x0), y0=min(last.y0, word.y0),
                                  x1=max(last.x1, word.x1), y1=max(last.y1, word.y1))
            continue
        out.append(replace(word, text=marker(cover.kind), conf=100.0))
        run_kind, run_line = cover.kind, word.line_key
    return out


def redacted_text_from_string(text: str, findings: Sequence[TextFinding]) -> str:
    """A person-corrected transcription with each span replaced by its marker."""
    spans = sorted((f.start, f.end, f.kind) for f in findings if f.end > f.start)
    merged: list[list] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, kind])
    out = text
    for start, end, kind in reversed(merged):
        out = out[:start] + marker(kind) + out[end:]
    return out


# What an ordinary letter may still show after redaction: dates, years, times.
# What an ordinary letter may still show after redaction: dates, years, times, small numbers.
_HARMLESS_NUMBER = re.compile(
    r"^(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{2}|\d{4})|\d{4}-\d{1,2}-\d{1,2}|(?:19|20)\d{2}"
    r"|\d{1,2}:\d{2}|\d{1,3})$"
)
_DECADE = re.compile(r"^(?:19|20)\d0s$")  # "1990s" (folded, the "s" looks like a 5)
_MONEY_BEFORE = re.compile(r"\$\s?[\d,]*$")  # "$1,500.00": the run starts after "$1,"
_DIGIT_RUN = re.compile(r"\d(?:[\d\-./]|\s(?=\d))*")
MIN_UNEXPLAINED_DIGITS = 4


def _harmless(run: str, as_written: str, before: str) -> bool:
    if _DECADE.match(as_written) or _MONEY_BEFORE.search(before):
        return True
    # "in 2025 3 of us": each part is harmless; "555 0138" is not. "JUNE 25. 2024": PP-OCR
    # reads the comma after a handwritten day as a dot.
    return all(_HARMLESS_NUMBER.match(part.rstrip(".,")) for part in run.split())


def unexplained_numbers(words: Sequence[Word], *, sender_number: str | None = None) -> int:
    """Runs of 4+ digits left in the words that are not a date, a year, a time, money or the
    sender's own number. A finder that missed a misread number still leaves its digits here."""
    sender = sender_key(sender_number)
    reach = len(sender_number or "") + 3  # "11-A-4433" is found as "11-" and "4433"
    count = 0
    for line in words_to_text(list(words)).split("\n"):
        for m in _DIGIT_RUN.finditer(fold_confusions(line)):
            run = m.group().strip(" -./")
            as_written = line[m.start() : m.start() + len(run)]
            # Real digits as written: "G00D" folds to "6000" but is a word.
            if sum(c.isdigit() for c in as_written) < MIN_UNEXPLAINED_DIGITS:
                continue
            if _harmless(run, as_written, line[: m.start()]):
                continue
            if sender and sender in canonical_id(line[max(0, m.start() - reach) : m.end() + reach]):
                continue
            count += 1
    return count


# "60M MM MM M7" is how OCR read a handwritten card number: words mixing letters with digits
# that are not look-alikes of letters (0, 1 and 5 stand for O, I and S in handwriting all the
# time). Ordinals, decades and clock times are ordinary.
_MIXED = re.compile(r"(?=.*[2-46-9])(?=.*[^\W\d_])")
_ORDINARY_MIXED = re.compile(r"(?i)^\d+(?:st|nd|rd|th|s|am|pm|a\.m\.|p\.m\.)$")


# The sender's own number may be written in up to this many words ("#22 A8684", "11-A 4433").
SENDER_NUMBER_WORDS = 3


def _part_of_sender_number(words: Sequence[Word], index: int, sender: str) -> bool:
    """Whether the word at `index`, alone or with its neighbours on its line, is exactly the
    sender's own number (or holds it). Only a span that is the number excuses its words: a
    number-like word beside the sender's number is not excused by it."""
    word = words[index]
    for start in range(max(0, index - SENDER_NUMBER_WORDS + 1), index + 1):
        for end in range(index + 1, min(len(words), start + SENDER_NUMBER_WORDS) + 1):
            span = words[start:end]
            if any(w.line_key != word.line_key for w in span):
                continue
            joined = canonical_id("".join(w.text for w in span))
            if joined == sender or (end - start == 1 and sender in joined):
                return True
    return False


def mixed_words(words: Sequence[Word], *, sender_number: str | None = None) -> int:
    """Words mixing letters and digits (other than 0, 1, 5) that are not ordinals, times or
    (part of) the sender's own number."""
    sender = sender_key(sender_number)
    count = 0
    for index, word in enumerate(words):
        text = word.text.strip(".,;:!?()[]\"'")
        if not _MIXED.match(text) or _ORDINARY_MIXED.match(text):
            continue
        if sender and _part_of_sender_number(words, index, sender):
            continue
        count += 1
    return count


@dataclass
class Verification:
    passed: bool
    problems: list[str] = field(default_factory=list)  # kinds and counts, never values
    # Where each problem was read (kind, box in the image that was read), for a person to see.
    regions: list[tuple[str, Box]] = field(default_factory=list, compare=False)


# Tesseract reads a burned box as a "word" now and then ("M9" across a card number's box).
BLACK_SHARE = 0.6


def _inside_black_box(img: np.ndarray, word: Word) -> bool:
    """Whether the word's box is mostly burned (exactly black) pixels."""
    height, width = img.shape[:2]
    x0, y0 = max(0, word.x0), max(0, word.y0)
    x1, y1 = min(width, word.x1), min(height, word.y1)
    if x1 <= x0 or y1 <= y0:
        return False  # outside the image: keep it, and with it any doubt
    region = img[y0:y1, x0:x1]
    if region.ndim == 3:
        region = region.max(axis=2)
    return float((region == 0).mean()) >= BLACK_SHARE


def verify_page(
    redacted_img: np.ndarray,
    *,
    ocr: Callable[[np.ndarray], OcrPage],
    sender_number: str | None = None,
    watch_terms: Sequence[str] = (),
    known_inmate_numbers: Sequence[str] = (),
) -> Verification:
    """Read the burned page again and look for anything left. Any doubt means not passed.

    `ocr` must return word boxes in the coordinates of the image it is given (as
    `ocr.tesseract.ocr_image` does): "words" Tesseract reads into a black box are dropped.
    """
    try:
        page = ocr(redacted_img)
    except Exception as exc:  # fail closed whatever went wrong
        return Verification(
            False, [f"the redacted page could not be read again ({type(exc).__name__})"]
        )
    words = [w for w in page.words if not _inside_black_box(redacted_img, w)]
    findings = find_pii(
        words,
        sender_number=sender_number,
        watch_terms=watch_terms,
        known_inmate_numbers=known_inmate_numbers,
    )
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    problems = [
        f"{count} {kind} still readable after redaction" for kind, count in sorted(counts.items())
    ]
    # Fail closed on what the finders cannot name: leftover long numbers, number-like words
    # and "@".
    covered = {i for f in findings for i in f.word_indices}
    rest = [w for i, w in enumerate(words) if i not in covered]
    numbers = unexplained_numbers(rest, sender_number=sender_number)
    if numbers:
        problems.append(f"{numbers} unexplained number(s) of 4+ digits still readable")
    mixed = mixed_words(rest, sender_number=sender_number)
    if mixed:
        problems.append(f"{mixed} word(s) mixing letters and digits still readable")
    at_signs = [w for w in rest if "@" in w.text]
    if at_signs:
        problems.append(f"{len(at_signs)} word(s) with '@' still readable")
    regions = [(f.kind, tuple(box)) for f in findings for box in f.boxes]
    regions += [("@", w.box) for w in at_signs]
    if numbers or mixed:  # the lines that hold them: the counters do not say which word
        sender = sender_key(sender_number)
        regions += [("number", w.box) for w in rest
                    if sum(c.isdigit() for c in w.text) >= 2
                    and not (sender and sender in canonical_id(w.text))]
    return Verification(not problems, problems, regions)


# A line of words Tesseract read this badly is usually not text at all: it can hide a number
# the finders never saw. Typed pages' worst lines measure 91+, the garbled handwritten lines
# that hid a phone number or an address 43-55 (bench/results/redaction.md).
LOW_LINE_CONFIDENCE = 60.0
# Only words with letters count: Tesseract rates a line holding just a number ("#44066 -533")
# low even when it read it right, and numbers are checked by the finders and by verify_page.
_WORDLIKE = re.compile(r"[^\W\d_]")


# PP-OCR's confidences run higher than Tesseract's for the same accuracy: its pages at 97 or
# more read at 2 % CER or better, those at 90–97 at 4–6 %, below 90 at 36 %
# (bench/results/handwriting.md, 90 pages in 30 hands). Its trust starts higher.
PPOCR_LOW_CONFIDENCE = 97.0
PPOCR_LOW_LINE_CONFIDENCE = 90.0


def _thresholds(page: OcrPage, low_confidence: float) -> tuple[float, float]:
    if page.engine == "ppocr":
        return max(low_confidence, PPOCR_LOW_CONFIDENCE), PPOCR_LOW_LINE_CONFIDENCE
    return low_confidence, LOW_LINE_CONFIDENCE


def low_confidence_page(page: OcrPage, *, low_confidence: float = 70.0) -> bool:
    """The engine that read the page was unsure of it, on that engine's own scale."""
    return page.confidence < _thresholds(page, low_confidence)[0]


def needs_human(page: OcrPage, *, low_confidence: float = 70.0) -> bool:
    """Whether a person must look before the page goes out (reason `redaction_unverified`).

    The finders only see what OCR read. Handwriting, a page read with low confidence, a page
    where OCR read nothing, or one with a line of words it could barely read may hide details.
    Confidence is judged on the scale of the engine that read the page.
    """
    if page.needs_transcription or not page.words:
        return True
    page_floor, line_floor = _thresholds(page, low_confidence)
    if page.confidence < page_floor:
        return True
    lines: dict[tuple[int, int, int], list[float]] = {}
    for word in page.words:
        if _WORDLIKE.search(word.text):
            lines.setdefault(word.line_key, []).append(word.conf)
    return any(len(c) > 1 and sum(c) / len(c) < line_floor for c in lines.values())
