"""Inmate numbers for routing: `ocr.inmate_number_patterns` re-exported, plus roster-side helpers.

Displaying uses `normalise` (case and dashes only); matching uses `fold` (look-alikes folded)
and `near` (edit distance on folded keys). `Inmate.number_key` stores `fold(inmate_number)`.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein

from ocr.inmate_number_patterns import (
    GENERIC_PATTERN,
    SYSTEM_ORDER,
    SYSTEM_PATTERNS,
    find_numbers,
    fold,
    normalise,
    system_of,
)

__all__ = [
    "GENERIC_PATTERN",
    "SYSTEM_ORDER",
    "SYSTEM_PATTERNS",
    "distance",
    "find_numbers",
    "fold",
    "normalise",
    "system_of",
]


def distance(a: str, b: str, *, limit: int = 3) -> int:
    """Edit distance between two numbers' folded keys, capped at `limit` + 1."""
    d = Levenshtein.distance(fold(a), fold(b), score_cutoff=limit)
    return d if d <= limit else limit + 1
