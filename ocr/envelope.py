"""Envelopes: tell an envelope page from a letter page, and read the sender block on it.

`looks_like_envelope` is cheap (no OCR) and relies on the page's shape; `read_envelope` reads
it with Tesseract, `read_envelope_again` with PP-OCR; `read_sender` works on the words either
engine found (`OcrPage`) and never touches the roster: it says what the envelope *says* (name,
number as written, facility, address, a reply code) and how sure the reading is. Whose letter
it is, is `postal.matching`'s decision, and so is whether Tesseract's reading is good enough
(`letters.routing` asks PP-OCR only when the roster does not confirm it).
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr.engines import EngineRule
from ocr.inmate_number_patterns import (
    SYSTEM_PATTERNS,
    find_numbers,
    hinted_system,
    normalise,
)
from ocr.pipeline import read_page, second_reading
from ocr.preprocess import Prepared, PreprocessOptions, find_paper, for_ocr, rotate_right_angle
from ocr.reply_codes import find_codes
from ocr.tesseract import AUTO
from ocr.types import OcrPage, Word

# --- is it an envelope? ---------------------------------------------------------------

# Long side / short side. A #10 envelope is 9.5 x 4.125 in (2.30), #9 2.29, 6 3/4 1.79,
# monarch 1.94, DL 2.0. Paper is 1.29 (letter), 1.41 (A4), 1.65 (legal): nothing between
# 1.72 and 3.2 is a sheet of paper.
ENVELOPE_MIN_ASPECT = 1.72
ENVELOPE_MAX_ASPECT = 3.2


def _is_envelope_shape(width: int, height: int) -> bool:
    if min(width, height) <= 0:
        return False
    aspect = max(width, height) / min(width, height)
    return ENVELOPE_MIN_ASPECT <= aspect <= ENVELOPE_MAX_ASPECT


def looks_like_envelope(img: np.ndarray) -> bool:
    """True when a page image is an envelope, judged without OCR (a few ms).

    What it relies on:
    1. The page's shape. Sheet-fed scanners crop to what went through them: a #10 envelope
       comes out ~2850x1238 at 300 DPI (aspect 2.3), and so does any envelope from 6 3/4 to
       #14, upright or on its side. No paper size has an aspect between 1.72 and 3.2.
    2. An envelope on a letter-size flatbed page, when the lid is dark (or open): the
       bright paper on the dark background (`ocr.preprocess.find_paper`) has an envelope's
       shape. On a white lid an envelope and a letter can't be told apart cheaply, so that
       case counts as a letter (the mailroom can re-mark the page).
    A 9x12 catalogue envelope is letter-shaped and counts as a letter too.
    """
    h, w = img.shape[:2]
    if _is_envelope_shape(w, h):
        return True

    gray = img if img.ndim == 2 else img.mean(axis=2).astype(np.uint8)
    box = find_paper(gray)
    if box is None:
        return False
    x0, y0, x1, y1 = box
    return _is_envelope_shape(x1 - x0, y1 - y0)


# Postage sits in the upper-right corner of an envelope (postal rules; metered mail too): a
# dense block of mid-grey (a colour stamp scanned in grey) that text never makes.
_STAMP_MIN_SHARE = 0.03  # share of a corner window that is filled, to call it a stamp
_STAMP_DOMINANCE = 2.5  # ... and this many times more than any other corner


def envelope_rotation(img: np.ndarray) -> int | None:
    """Clockwise degrees (0/90/180/270) that put an envelope page's stamp in the upper-right
    corner, i.e. make it upright; None when no corner clearly holds a stamp.

    Letter-page orientation cues (flush-left lines, ascenders) mislead on envelopes, whose
    blocks sit left, centre and right; the stamp does not. ~5 ms.
    """
    gray = img if img.ndim == 2 else img.mean(axis=2).astype(np.uint8)
    step = max(1, max(gray.shape) // 700)  # ~75 DPI: text strokes are 1-2 px, a stamp 50+
    small = np.ascontiguousarray(gray[::step, ::step])
    h, w = small.shape
    landscape = w >= h
    cw, ch = (int(0.22 * w), int(0.35 * h)) if landscape else (int(0.35 * w), int(0.22 * h))
    kernel = np.ones((5, 5), np.uint8)

    def stamp_share(window: np.ndarray) -> float:
        paper = int(np.percentile(window, 75))  # per corner: the lamp lights corners unevenly
        filled = (window < paper - 25).astype(np.uint8)
        # Opening erases strokes (text, postmark rings); filled areas survive.
        return float(cv2.morphologyEx(filled, cv2.MORPH_OPEN, kernel).mean())

    corners = {
        "tl": stamp_share(small[:ch, :cw]),
        "tr": stamp_share(small[:ch, w - cw :]),
        "bl": stamp_share(small[h - ch :, :cw]),
        "br": stamp_share(small[h - ch :, w - cw :]),
    }
    # Where the stamp is -> clockwise turn that brings it to the upper right.
    turns = {"tr": 0, "bl": 180} if landscape else {"tl": 90, "br": 270}
    best = max(turns, key=lambda k: corners[k])
    others = max(v for k, v in corners.items() if k != best)
    if corners[best] < _STAMP_MIN_SHARE or corners[best] < _STAMP_DOMINANCE * others:
        return None
    return turns[best]


def read_envelope(
    img: np.ndarray, *, languages: str = "eng+spa", timeout: int = 120
) -> tuple[Prepared, OcrPage]:
    """`ocr.pipeline.read_page` for an envelope page, by Tesseract alone: turned upright by its
    stamp when the stamp is clear (the letter-page orientation cues are then skipped), else
    `read_page` as is. Returns (Prepared, OcrPage) like `read_page`; `rotation` records the turn
    applied. Whether PP-OCR reads it again (`read_envelope_again`) depends on whether the
    roster confirms what Tesseract read: `letters.routing` decides.

    `languages="auto"` reads with English and Spanish at once: a sender block is too little
    prose to tell its language by (3 of 8 English envelopes guessed Spanish, each of them then
    read twice)."""
    if languages == AUTO:
        languages = "eng+spa"
    rule = EngineRule.tesseract_only()
    turn = envelope_rotation(img)
    if turn is None:
        return read_page(img, languages=languages, timeout=timeout, rule=rule)
    upright = rotate_right_angle(img, turn)
    options = dataclasses.replace(PreprocessOptions(), orient=False)
    prepared, page = read_page(upright, languages=languages, options=options, timeout=timeout,
                               rule=rule)
    prepared.rotation = page.rotation = turn
    return prepared, page


def read_envelope_again(
    clean: np.ndarray, first: OcrPage, *, languages: str = "eng+spa", timeout: int = 120
) -> OcrPage:
    """PP-OCR's reading of an envelope Tesseract read as `first`, from its clean image (the
    upright `Prepared.image` `read_envelope` gave): the same pixels PP-OCR would have read in
    the OCR step, so word boxes stay in the clean image's coordinates. When PP-OCR fails,
    `first` comes back (`ocr.pipeline.second_reading`)."""
    return second_reading(for_ocr(clean), first, languages=languages, timeout=timeout)


# --- reading the sender block -----------------------------------------------------------


@dataclass
class SenderGuess:
    """What the envelope's sender block says, as read. Never folded, never "corrected"."""

    name: str
    inmate_number: str
    facility: str
    address_lines: list[str]
    confidence: float  # 0..1: how well the block was read (not whether it is on the roster)
    code: str | None = None  # a reply code seen anywhere on the page ("Ref: K7M-3QX")
    lines: list[str] = field(default_factory=list)  # the sender block as read
    system: str = ""  # the prison system the number's format suggests ("federal", "ca", ...)


@dataclass
class _Segment:
    words: list[Word]

    @property
    def x0(self) -> int:
        return min(w.x0 for w in self.words)

    @property
    def y0(self) -> int:
        return min(w.y0 for w in self.words)

    @property
    def x1(self) -> int:
        return max(w.x1 for w in self.words)

    @property
    def y1(self) -> int:
        return max(w.y1 for w in self.words)

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def conf(self) -> float:
        return sum(w.conf for w in self.words) / len(self.words)


_FACILITY_WORDS = re.compile(
    r"\b(?:CORRECTIONAL|CORRECTIONS?|PRISON|PENITENTIARY|INSTITUTION|FACILITY|CENTER|CENTRE|"
    r"UNIT|CAMP|JAIL|DETENTION|COMPLEX|FARM|REFORMATORY|FCI|USP|SCI|FMC|FDC|MDC|FPC|CI|CF|CC|"
    r"SP|CMF|SATF|STATE\s+PRISON)\b",
    re.I,
)
_STREET = re.compile(r"^\s*(?:P\.?\s*O\.?\s*BOX|BOX\s+\w|\d+[A-Z]?\s+\w)", re.I)
_CITY_LINE = re.compile(r"[A-Za-z.'-]+[,.]?\s+[A-Z]{2}\.?\s+[0-9OoIlSB]{5}(?:-[0-9]{4})?(?![0-9])")
_JUNK = re.compile(r"^[^A-Za-z0-9]*$")


def _segments(words: list[Word]) -> list[_Segment]:
    """Tesseract's lines, cut where a wide gap shows two things side by side (sender block
    and stamp, say)."""
    by_line: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        if word.text.strip():
            by_line.setdefault(word.line_key, []).append(word)
    heights = [w.y1 - w.y0 for w in words if w.text.strip()]
    gap_limit = 4 * (statistics.median(heights) if heights else 30)
    segments: list[_Segment] = []
    for line_words in by_line.values():
        line_words.sort(key=lambda w: w.x0)
        current = [line_words[0]]
        for word in line_words[1:]:
            if word.x0 - current[-1].x1 > gap_limit:
                segments.append(_Segment(current))
                current = []
            current.append(word)
        segments.append(_Segment(current))
    return [s for s in segments if not _JUNK.match(s.text)]


def _sender_block(segments: list[_Segment], width: int, height: int) -> list[_Segment]:
    """The top-left block: start at the segment nearest the top-left corner, then take the
    lines below it that start near the same left edge, until a wide vertical gap.

    Handwriting makes Tesseract's line boxes tall and overlapping, so lines are ordered and
    spaced by their vertical centres, not their edges.
    """
    if not segments:
        return []
    # Ignore specks: a one- or two-character segment read with low confidence.
    usable = [s for s in segments if len(s.text.strip()) > 2 or s.conf > 80]
    # Line height from real lines (specks and stamp scraps are tiny).
    wordy = [s.height for s in usable if len(s.text.strip()) >= 4] or [s.height for s in segments]
    line_h = statistics.median(wordy) or 30
    # Where the return address starts: the envelope's top-left. The recipient block starts
    # at ~35-45 % of the width and ~40 % of the height, outside this corner.
    left_half = [s for s in usable if s.x0 < 0.3 * width and s.y0 < 0.4 * height]
    if not left_half:
        return []
    seed = min(left_half, key=lambda s: s.y0 / height + 0.6 * s.x0 / width)
    left = seed.x0
    tolerance = max(4 * line_h, 0.06 * width)
    column = [
        s for s in usable
        if s is not seed and abs(s.x0 - left) <= tolerance and s.x0 < 0.45 * width
        and _centre(s) > _centre(seed)
    ]  # fmt: skip
    block = [seed]
    for seg in sorted(column, key=_centre):
        if _centre(seg) - _centre(block[-1]) > 3.3 * line_h:
            break  # a wider gap than one unread line: the block has ended
        if _centre(seg) - _centre(block[-1]) < 0.35 * line_h:
            # Same line as the previous one (a fragment Tesseract split off): keep the
            # better-read of the two.
            if (
                seg.conf > block[-1].conf
                and len(seg.text) >= len(block[-1].text)
                and len(block) > 1
            ):
                block[-1] = seg
            continue
        block.append(seg)
        if len(block) >= 7:
            break
    return block


def _centre(seg: _Segment) -> float:
    return (seg.y0 + seg.y1) / 2


_LABEL_WORDS = {
    "INMATE", "REG", "REGISTER", "NO", "NUMBER", "ID", "DOC", "CDCR", "CDC", "IDOC", "TDCJ",
    "TDC", "DIN", "BOP", "DC", "FROM", "MR", "MRS", "MS",
}  # fmt: skip


def _clean_name(text: str, number: str) -> str:
    """The name on a sender line: words of letters, without the number, labels or scraps."""
    if number:
        text = text.replace(number, " ")
    kept: list[str] = []
    for token in text.split():
        if any(ch.isdigit() for ch in token) or "#" in token:
            continue  # the number (or what OCR made of it)
        word = re.sub(r"[^A-Za-z.'\-]", "", token).strip("'-").lstrip(".")
        if len(word.rstrip(".")) > 1:
            word = word.rstrip(".")  # "A." keeps its dot, "Smith." loses it
        if not word or word.upper().rstrip(".") in _LABEL_WORDS:
            continue
        if sum(ch.isalpha() for ch in word) < 1:
            continue
        kept.append(word)
    # Scraps at the end of a line ("yYy", "ae") are not part of a name; "Kim", "LEE" are.
    while len(kept) > 2 and len(kept[-1]) <= 3 and not _name_like(kept[-1]):
        kept.pop()
    return " ".join(kept).strip(" ,.-'")


def _name_like(word: str) -> bool:
    letters = word.rstrip(".")
    return (
        letters.isupper()
        or (letters[:1].isupper() and letters[1:].islower())
        or (len(letters) == 1 and word.endswith("."))
    )


def _is_address(text: str) -> bool:
    return bool(_STREET.match(text) or _CITY_LINE.search(text))


def read_sender(page: OcrPage) -> SenderGuess:
    """Read the sender block (top-left of the envelope): name, number, facility, address.

    Layout it expects, the one prison mail rules ask for (any line may be missing):
        NAME [#NUMBER]
        [NUMBER]
        FACILITY
        STREET or PO BOX
        CITY, ST ZIP
    A reply code anywhere on the page ("Ref: K7M-3QX") is reported too.
    """
    width = page.width or max((w.x1 for w in page.words), default=1)
    height = page.height or max((w.y1 for w in page.words), default=1)
    segments = _segments(page.words)
    block = _sender_block(segments, width, height)
    lines = [s.text for s in block]
    codes = find_codes(page.text) or find_codes("\n".join(s.text for s in segments))
    code = codes[0] if codes else None

    # The number: the first one in the block; else anywhere in the top-left quarter; else
    # a number-shaped piece of a longer token ("HFJW7194": OCR glued scraps to "JW7194").
    number, system, number_line = _find_number(lines, code)
    if not number:
        corner = [s for s in segments if s.x0 < 0.5 * width and s.y0 < 0.5 * height]
        number, system, _ = _find_number([s.text for s in sorted(corner, key=lambda s: s.y0)], code)
    if not number:
        number, system, number_line = _find_number_in_scraps(lines[:3])
    display_number = normalise(number, system or None) if number else ""

    # The name: in the first lines, the first with two or more words of letters that is not
    # a facility or an address line.
    name, name_line = "", -1
    for i, line in enumerate(lines[:3]):
        if _FACILITY_WORDS.search(line) or _is_address(line):
            continue
        candidate = _clean_name(line, number if i == number_line else "")
        if len([t for t in candidate.split() if sum(c.isalpha() for c in t) >= 2]) >= 2:
            name, name_line = candidate, i
            break

    # What follows the name, less a line that only carries the number ("Reg. No. 12345-678").
    number_only = (
        number_line != name_line
        and number_line >= 0
        and (len(_clean_name(lines[number_line], number)) < 3)
    )
    rest = [
        (i, line.strip())
        for i, line in enumerate(lines)
        if i > name_line and not (number_only and i == number_line)
    ]
    # The facility: the first such line with a facility word; else the first that is not
    # an address line. The address is what comes after it.
    facility, facility_line = "", -1
    for i, line in rest:
        if _FACILITY_WORDS.search(line) and not _is_address(line):
            facility, facility_line = line, i
            break
    if not facility:
        for i, line in rest:
            if not _is_address(line):
                facility, facility_line = line, i
                break
    address_lines = [line for i, line in rest if i != facility_line and _is_address(line)]

    confidence = _confidence(block, name_line, number_line, facility_line, name, display_number)
    return SenderGuess(
        name=name,
        inmate_number=display_number,
        facility=facility,
        address_lines=address_lines,
        confidence=confidence,
        code=code,
        lines=lines,
        system=system,
    )


def _find_number(lines: list[str], code: str | None) -> tuple[str, str, int]:
    hint = hinted_system("\n".join(lines))
    for i, line in enumerate(lines):
        for raw, system in find_numbers(line):
            if code and code in re.sub(r"[^A-Z0-9]", "", raw.upper()):
                continue  # the reply code, not a number
            if hint and hint != system and _fits(raw, hint):
                system = hint  # "AB1234" at "Coal Township, PA": Pennsylvania, not California
            return raw, system, i
    return "", "", -1


def _fits(raw: str, system: str) -> bool:
    return any(p.fullmatch(raw.strip()) for p in SYSTEM_PATTERNS.get(system, []))


def _find_number_in_scraps(lines: list[str]) -> tuple[str, str, int]:
    """A number hidden in a longer token: trim up to three characters off either end."""
    for i, line in enumerate(lines):
        for token in line.split():
            token = token.strip(".,;:#()[]")
            if sum(ch.isdigit() for ch in token) < 4:
                continue
            for cut in range(1, 4):
                for piece in (token[cut:], token[:-cut]):
                    found = find_numbers(piece)
                    if found and found[0][0] == piece:
                        return piece, found[0][1], i
    return "", "", -1


def _confidence(
    block: list[_Segment],
    name_line: int,
    number_line: int,
    facility_line: int,
    name: str,
    number: str,
) -> float:
    """OCR confidence of the lines that matter, scaled down for each missing part."""
    if not block:
        return 0.0
    key_lines = [block[i] for i in {name_line, number_line} if i >= 0]
    base = sum(s.conf for s in key_lines) / len(key_lines) / 100 if key_lines else 0.3
    found = sum(1 for part in (name, number, facility_line >= 0) if part)
    completeness = {3: 1.0, 2: 0.8, 1: 0.5, 0: 0.2}[found]
    return round(max(0.0, min(1.0, base * completeness)), 3)
