"""Inmate numbers by prison system: found in OCR text, shown canonically, folded for matching.

Pure text functions, so that `ocr.envelope` can use them without importing `postal`
(`postal.inmate_numbers` re-exports them). Two rules from the issue shape everything here:

* look-alike characters (O/0, I/1, S/5, B/8, Z/2 ...) are tolerated when *finding* and
  *matching* a number (`fold` maps them together), never when *displaying* it (`normalise`
  only fixes case and dashes);
* a number is found as written, with a guess of the system it belongs to; the roster, not
  this module, decides whose it is.
"""

from __future__ import annotations

import re

# Characters OCR (and handwriting) confuse with digits, folded onto the digit.
_FOLD = str.maketrans(
    {
        "O": "0", "Q": "0", "D": "0",
        "I": "1", "L": "1", "|": "1", "!": "1",
        "S": "5", "$": "5",
        "B": "8",
        "Z": "2",
        "G": "6",
    }
)  # fmt: skip

# A "digit" as OCR may print it: a real digit or one of the look-alikes above.
_D = r"[0-9OoQDIl|SsBZz$]"
_L = r"[A-Za-z$]"  # "$" is how OCR often reads a typed S
_SEP = r"[ ]?[-\u2010-\u2015][ ]?"  # a dash, perhaps with a space either side (handwriting)
_GAP = rf"(?:{_SEP}|[ ])"  # a dash or a lone space (handwritten "12345 678")
_START = r"(?<![A-Za-z0-9])"
_END = r"(?![A-Za-z0-9])"


def _p(body: str) -> re.Pattern[str]:
    return re.compile(_START + body + _END)


# Patterns that FIND numbers in OCR text (tolerant: look-alikes allowed in digit positions;
# `find_numbers` then insists that most digit positions hold real digits). The order inside
# each list is the order of preference; `SYSTEM_ORDER` says which system wins a shared shape.
SYSTEM_PATTERNS: dict[str, list[re.Pattern[str]]] = {
    # Federal Bureau of Prisons register number 12345-678.
    "federal": [_p(rf"{_D}{{5}}{_GAP}{_D}{{3}}")],
    # New York DIN 12A3456, also written 12-A-3456.
    "ny": [_p(rf"{_D}{{2}}{_GAP}?{_L}{_GAP}?{_D}{{4}}")],
    # California CDCR AB1234; the older CDC numbers are one letter and five digits (C12345).
    "ca": [_p(rf"{_L}{{2}}(?:{_SEP})?{_D}{{4}}"), _p(rf"{_L}(?:{_SEP})?{_D}{{5}}")],
    # Pennsylvania DOC AB1234.
    "pa": [_p(rf"{_L}{{2}}(?:{_SEP})?{_D}{{4}}")],
    # Illinois IDOC A12345 (also B/K/M/N/R/Y prefixes).
    "il": [_p(rf"{_L}(?:{_SEP})?{_D}{{5}}")],
    # Texas TDCJ: 7 or 8 digits.
    "tx": [_p(rf"{_D}{{7,8}}")],
}
SYSTEM_ORDER = ["federal", "ny", "ca", "pa", "il", "tx"]

# Other systems (and anything unusual): up to 3 letters, then 4-10 digits, perhaps one dash.
GENERIC_PATTERN = re.compile(_START + r"(?:[A-Za-z]{1,3}[-]?)?[0-9]{2,}(?:[-][0-9]{2,})?" + _END)

# Words next to a number that say which system it is.
_SYSTEM_HINTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?:REG(?:ISTER)?\.?\s*(?:NO|#)|BOP|FCI|USP|FMC|FDC|MDC|FPC)\b", re.I),
     "federal"),
    (re.compile(r"\bCDCR?\b", re.I), "ca"),
    (re.compile(r"\bIDOC\b", re.I), "il"),
    (re.compile(r"\bTDCJ\b", re.I), "tx"),
    (re.compile(r"\bDIN\b", re.I), "ny"),
    (re.compile(r"\b(?:PA\s*DOC|SCI)\b", re.I), "pa"),
]  # fmt: skip
_STATE_LINE = re.compile(r",?\s\b(CA|PA|IL|TX|NY)\b\.?\s+\d{5}(?:-\d{4})?\b")

# Words written around a number: "#", "No.", "CDCR#" ... (never part of the number).
_LABEL = re.compile(
    r"^(?:(?:INMATE|REGISTER|REG|NO|NUMBER|ID|DOC|CDCR|CDC|IDOC|TDCJ|DIN|BOP|DC)\b\.?|[#:.\s])+",
    re.I,
)

_STRICT = {
    "federal": re.compile(r"^\d{5}-\d{3}$"),
    "ny": re.compile(r"^\d{2}-?[A-Z]-?\d{4}$"),
    "ca": re.compile(r"^(?:[A-Z]{2}-?\d{4}|[A-Z]-?\d{5})$"),
    "pa": re.compile(r"^[A-Z]{2}-?\d{4}$"),
    "il": re.compile(r"^[A-Z]-?\d{5}$"),
    "tx": re.compile(r"^\d{7,8}$"),
}


def fold(number: str) -> str:
    """The matching key: upper-case, look-alikes folded onto digits, only letters and digits.

    `Inmate.number_key` stores `fold(inmate_number)`; two numbers that OCR could confuse
    fold to the same key ("C12345" and "C1234S", "12345-678" and "I2345 678").
    """
    return "".join(ch for ch in _compact(number).translate(_FOLD) if ch.isalnum())


def system_of(number: str) -> str:
    """The system whose (strict) format the number has, or "generic". Shared shapes go to the
    first in SYSTEM_ORDER (an 8-digit number without its dash is Texas, with it federal)."""
    text = _compact(number)
    for system in SYSTEM_ORDER:
        if _STRICT[system].match(text):
            return system
    return "generic"


def normalise(number: str, system: str | None = None) -> str:
    """Display form: upper-case, labels and spaces removed, canonical dashes. Never folded.

    Federal numbers keep their dash (12345-678; with `system="federal"` an 8-digit number
    gets it back), NY DINs lose theirs (12A3456), CA/PA/IL lose a stray dash (AB1234).
    """
    text = _compact(number)
    if system == "federal" and re.fullmatch(r"\d{8}", text):
        return f"{text[:5]}-{text[5:]}"
    kind = system_of(text)
    if kind == "federal":
        return text
    if kind in ("ny", "ca", "pa", "il"):
        return text.replace("-", "")
    return re.sub(r"-{2,}", "-", text).strip("-")


def _compact(number: str) -> str:
    text = number.strip().upper()
    text = re.sub(r"[\u2010-\u2015]", "-", text)
    text = _LABEL.sub("", text)
    text = re.sub(r"\s*-\s*", "-", text)
    text = re.sub(r"\s+", "", text)
    return text.strip(".,;:#")


def _digits_ok(candidate: str, system: str) -> bool:
    # Look-alikes are tolerated in digit positions, but a "number" that is mostly letters
    # is a word ("BOISE", "SOLID").
    text = re.sub(r"[^A-Za-z0-9|$]", "", candidate)
    if system == "ny":
        positions = text[:2] + text[-4:]
    elif system in ("ca", "pa", "il"):
        positions = text.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$")
    else:
        positions = text
    real = sum(ch.isdigit() for ch in positions)
    return real >= 3 and (len(positions) - real) <= max(1, len(positions) // 4)


def hinted_system(text: str) -> str | None:
    """The system that labels (CDCR, IDOC, TDCJ, DIN, Reg. No.) or a \"City, ST 12345\" line in the
    text point to, or None."""
    for pattern, system in _SYSTEM_HINTS:
        if pattern.search(text):
            return system
    state = _STATE_LINE.search(text)
    return state.group(1).lower() if state else None


def _generic_ok(candidate: str, text: str, start: int) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    if digits < 4 or len(candidate) > 14:
        return False
    before = text[max(0, start - 12) : start]
    labelled = re.search(r"(?:#|\bNO\.?|\bID|\bDOC|\bNUMBER)\s*:?\s*$", before, re.I)
    # A ZIP code (12345 or 12345-6789) after a state, a street number, a PO box: not numbers.
    if re.fullmatch(r"\d{5}(?:-\d{4})?", candidate) and not labelled:
        return False
    if re.search(r"\bBOX\s*$", before, re.I) or re.search(r"\b[A-Z]{2}\.?\s+$", before):
        return bool(labelled)
    return bool(labelled) or digits >= 6


# A number that carries on past the candidate is a phone (or another long number), not an
# inmate number: "+49 30 1234567" (a country code before it), "09-7625400" and "090-1234-5678"
# (more digits joined by a dash or dot).
_LONGER_BEFORE = re.compile(r"(?:\+[ ]?\d{1,3}(?:[ .\-]?\(?\d{1,5}\)?){0,4}[ .\-]?|\d[-.\u2010-\u2015])\Z")
_LONGER_AFTER = re.compile(r"[-.\u2010-\u2015]\d")


def _part_of_longer_number(text: str, start: int, end: int) -> bool:
    # A window, not the whole text before: the pattern need not look further back.
    return bool(_LONGER_BEFORE.search(text, max(0, start - 24), start) or _LONGER_AFTER.match(text, end))


def find_numbers(text: str, system: str | None = None) -> list[tuple[str, str]]:
    """Inmate numbers in `text`, in reading order: (number as written, system guess).

    With `system` only that system's formats (and the generic fallback) are looked for.
    Without it every format is tried; a shape several systems share ("AB1234": CA or PA,
    "C12345": CA or IL) is attributed using hints in the text (CDCR, IDOC, TDCJ, DIN, Reg.
    No., "City, ST 12345"), else to the first system in SYSTEM_ORDER. A candidate that is part
    of a longer number (a phone with its country code or trunk prefix) is none.
    """
    if system is not None and system in SYSTEM_PATTERNS:
        order = [system]
    else:
        order = list(SYSTEM_ORDER)
        hint = hinted_system(text)
        if hint in order:
            order.remove(hint)
            order.insert(0, hint)

    found: list[tuple[int, int, str, str]] = []

    def overlaps(start: int, end: int) -> bool:
        return any(start < e and s < end for s, e, _, _ in found)

    for name in order:
        for pattern in SYSTEM_PATTERNS[name]:
            for m in pattern.finditer(text):
                if overlaps(m.start(), m.end()) or not _digits_ok(m.group(), name):
                    continue
                if _part_of_longer_number(text, m.start(), m.end()):
                    continue
                found.append((m.start(), m.end(), m.group().strip(), name))
    for m in GENERIC_PATTERN.finditer(text):
        if overlaps(m.start(), m.end()) or not _generic_ok(m.group(), text, m.start()):
            continue
        if _part_of_longer_number(text, m.start(), m.end()):
            continue
        if system_of(m.group()) != "generic":
            continue  # another system's shape, left out by `system`
        found.append((m.start(), m.end(), m.group(), "generic"))
    found.sort()
    return [(number, name) for _, _, number, name in found]
