"""Reply codes as text: the alphabet, the check character, and finding codes written on mail.

Pure functions (no database), so `ocr.envelope` can spot a code on an envelope;
`postal.codes` re-exports them and hands out new codes.

A code is `length - 1` payload characters and one check character from ALPHABET, a
23-character alphabet with no look-alikes (no 0/O/Q, 1/I/L/J, 5/S, 8/B, 2/Z, 6/G, U/V).
The check makes the weighted sum  sum(i * value(c_i) for i = 1..n)  a multiple of 23: with
23 prime and every weight below 23, any single wrong character and any swap of two
neighbours fails the check, so a misread code is rejected rather than routed elsewhere.
Codes are stored without a dash ("K7M3QX") and printed grouped ("K7M-3QX").
"""

from __future__ import annotations

import re

ALPHABET = "23456789ACDEFHKMNPRTWXY"
_BASE = len(ALPHABET)  # 23, a prime
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
DEFAULT_LENGTH = 6

# What a hand or OCR may put where a code character was printed: only mappings where one
# character of ALPHABET is the obvious intent. Anything else (1, I, L, U, ...) is rejected.
_READ_AS = str.maketrans({"0": "D", "O": "D", "Q": "D", "S": "5", "Z": "2", "B": "8", "G": "6"})


def check_char(payload: str) -> str:
    """The character that makes `payload + check` valid."""
    n = len(payload) + 1
    if n >= _BASE:
        raise ValueError("code too long for its check character")
    total = sum((i + 1) * _VALUE[ch] for i, ch in enumerate(payload))
    # n * v = -total (mod 23)  ->  v = -total * n^-1
    value = (-total * pow(n, -1, _BASE)) % _BASE
    return ALPHABET[value]


def is_valid(code: str) -> bool:
    """True for a canonical code (upper-case, no dash) whose check character is right."""
    if len(code) < 2 or len(code) >= _BASE or any(ch not in _VALUE for ch in code):
        return False
    return sum((i + 1) * _VALUE[ch] for i, ch in enumerate(code)) % _BASE == 0


def canonical(text: str) -> str | None:
    """A code as written ("k7m-3qx", "K7M 3QX") in stored form, or None if it isn't a valid code."""
    cleaned = re.sub(r"[\s\-\u2010-\u2015.]", "", text).upper().translate(_READ_AS)
    return cleaned if is_valid(cleaned) else None


def format_code(code: str) -> str:
    """Printed form: two groups joined by a dash ("K7M-3QX")."""
    half = (len(code) + 1) // 2
    return f"{code[:half]}-{code[half:]}"


_CH = r"[A-Za-z0-9]"
_LABELLED = re.compile(
    r"\b(?:REF(?:ERENCE)?|(?:REPLY\s*)?CODE)\b\s*(?:(?:IS|WAS|NO\.?|#)\s*)?[:#.]?\s*"
    rf"({_CH}(?:[\s\-\u2010-\u2015]{{0,2}}{_CH}){{{DEFAULT_LENGTH - 1}}})(?![A-Za-z0-9])",
    re.I,
)
_DASHED = re.compile(
    r"(?<![A-Za-z0-9-])([A-Za-z0-9]{3}\s?[-\u2010-\u2015]\s?[A-Za-z0-9]{3})(?![A-Za-z0-9-])"
)
_BARE = re.compile(r"(?<![A-Za-z0-9-])([2-9A-Z]{6})(?![A-Za-z0-9-])")


def find_codes(text: str) -> list[str]:
    """Valid reply codes written in `text`, canonical, in order of appearance, no repeats.

    Accepted: after a label ("Ref: K7M-3QX", "code k7m 3qx"), look-alikes forgiven; a
    3-3 dashed group anywhere ("K7M-3QX"); a bare 6-character group only when it is
    written exactly in ALPHABET and mixes letters and digits. Every one must pass the check.
    """
    hits: list[tuple[int, str]] = []
    for m in _LABELLED.finditer(text):
        code = canonical(m.group(1))
        if code:
            hits.append((m.start(1), code))
    for m in _DASHED.finditer(text):
        code = canonical(m.group(1))
        if code:
            hits.append((m.start(1), code))
    for m in _BARE.finditer(text):
        token = m.group(1)
        has_digit = any(ch.isdigit() for ch in token)
        has_letter = any(ch.isalpha() for ch in token)
        if has_digit and has_letter and is_valid(token):
            hits.append((m.start(1), token))
    seen: set[str] = set()
    codes: list[str] = []
    for _, code in sorted(hits):
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes
