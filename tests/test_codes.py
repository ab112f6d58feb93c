"""Reply codes: no look-alikes, a check character that rejects misreads, unique per match."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from postal.codes import (
    ALPHABET,
    canonical,
    check_char,
    ensure_code,
    find_codes,
    format_code,
    is_valid,
    new_code,
)
from storage.db import session_scope
from storage.models import Facility, Inmate, Match, Volunteer

LOOK_ALIKES = "01OQILJ5S8B2Z6GUV"


def test_alphabet_has_no_look_alikes() -> None:
    """GIVEN the code alphabet
    WHEN it is checked against characters people and OCR confuse
    THEN none of them is in it, and its size is prime (the check needs that)."""
    assert not set(LOOK_ALIKES) & set(ALPHABET) - set("25689")
    for a, b in [
        ("0", "O"),
        ("1", "I"),
        ("1", "L"),
        ("5", "S"),
        ("8", "B"),
        ("2", "Z"),
        ("6", "G"),
        ("U", "V"),
    ]:
        assert not (a in ALPHABET and b in ALPHABET), (a, b)
    n = len(ALPHABET)
    assert n > 20 and all(n % k for k in range(2, n))


def test_every_single_misread_and_neighbour_swap_is_rejected() -> None:
    """GIVEN a valid code
    WHEN any one character is replaced by any other, or two neighbours are swapped
    THEN the result is never a valid code (a misread is rejected, not routed elsewhere)."""
    payload = "K7M3Q".replace("Q", "P")
    code = payload + check_char(payload)
    assert is_valid(code)
    for i, ch in itertools.product(range(len(code)), ALPHABET):
        if ch != code[i]:
            assert not is_valid(code[:i] + ch + code[i + 1 :])
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            assert not is_valid(code[:i] + code[i + 1] + code[i] + code[i + 2 :])


def test_codes_are_found_in_text_tolerant_to_spacing_and_case() -> None:
    """GIVEN a valid code written as "Ref: K7M-3QX", lower case with spaces, and with
    look-alikes a hand might write (S for 5)
    WHEN codes are looked for
    THEN each is found in stored form; an invalid one is not."""
    code = "K7M3P" + check_char("K7M3P")
    shown = format_code(code)
    assert shown == f"{code[:3]}-{code[3:]}"
    assert find_codes(f"Ref: {shown}") == [code]
    assert find_codes(f"my reply code is {code[:3].lower()} {code[3:].lower()}, thanks") == [code]
    assert find_codes(f"Dear Sam, (ref {shown}) hello") == [code]
    handwritten = "X58" + "MT"
    written = handwritten + check_char(handwritten)
    assert canonical(written.replace("5", "S").replace("8", "B")) == written
    assert find_codes(f"Ref: {format_code(written).replace('5', 'S')}") == [written]
    broken = code[:-1] + next(ch for ch in ALPHABET if ch != code[-1])
    assert find_codes(f"Ref: {broken}") == []


def test_ordinary_words_and_inmate_numbers_are_not_codes() -> None:
    """GIVEN letter text with capitalised words, dates and inmate numbers but no code
    WHEN codes are looked for
    THEN none is found."""
    text = "DEAR FRIEND, on 12-03-2024 I got your letter. CDCR AB1234, FCI 12345-678. MARKET CARTER"
    # Whatever a bare word is, it must pass the check to count; these words mix no digits.
    assert find_codes(text) == []


def test_new_codes_are_valid_unique_and_kept(lb_home) -> None:
    """GIVEN a match without a code
    WHEN a code is ensured twice and new codes are drawn
    THEN the match keeps its first code, and every code is valid and unused."""
    with session_scope() as session:
        facility = Facility(name="FCI Pine Hollow", system="federal")
        inmate = Inmate(
            inmate_number="12345-678", number_key="12345678", name="John Smith", facility=facility
        )
        volunteer = Volunteer(email="sam@example.org", display_name="Sam")
        match = Match(inmate=inmate, volunteer=volunteer)
        session.add_all([facility, inmate, volunteer, match])
        session.flush()
        first = ensure_code(session, match)
        assert ensure_code(session, match) == first
        assert is_valid(first) and len(first) == 6
        fresh = {new_code(session) for _ in range(50)}
        assert first not in fresh and all(is_valid(c) for c in fresh)
    with session_scope() as session:
        assert session.scalar(select(Match.code)) == first
