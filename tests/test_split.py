"""Cutting a scanner run into letters: separators, envelopes, blank backs, unreadable separators."""

from __future__ import annotations

from ocr.split import PageInfo, split_run

KINDS = {"S": "separator", "E": "envelope", "L": "letter", "B": "blank"}


def run(pattern: str) -> list[PageInfo]:
    return [PageInfo(i + 1, KINDS[ch]) for i, ch in enumerate(pattern)]


def pages_of(groups: list[list[PageInfo]]) -> list[list[int]]:
    return [[p.source_page for p in group] for group in groups]


def test_separators_start_letters_and_are_dropped() -> None:
    """GIVEN a run with a separator before each letter
    WHEN it is split
    THEN each separator opens a letter and no separator page is in any letter."""
    assert pages_of(split_run(run("SELLSELSEL"))) == [[2, 3, 4], [6, 7], [9, 10]]


def test_without_separators_each_envelope_starts_a_letter() -> None:
    """GIVEN a run of envelopes each followed by its letter pages
    WHEN it is split
    THEN each envelope opens a letter."""
    assert pages_of(split_run(run("ELLELELLL"))) == [[1, 2, 3], [4, 5], [6, 7, 8, 9]]


def test_blank_backs_are_dropped_and_order_is_kept() -> None:
    """GIVEN a duplex run whose pages have blank backs
    WHEN it is split
    THEN blank pages are in no letter and the others keep their order."""
    assert pages_of(split_run(run("EBLBLBEBLB"))) == [[1, 3, 5], [7, 9]]


def test_letter_pages_before_any_envelope_form_a_letter() -> None:
    """GIVEN a run that starts with letter pages (no envelope, no separator)
    WHEN it is split
    THEN those pages are a letter of their own."""
    assert pages_of(split_run(run("LLELL"))) == [[1, 2], [3, 4, 5]]


def test_an_unreadable_separator_does_not_break_the_split() -> None:
    """GIVEN a separator run where one separator could not be read (seen as a blank page,
    or as a letter page)
    WHEN it is split
    THEN the envelope after it still starts a new letter."""
    assert pages_of(split_run(run("SELLBELSEL"))) == [[2, 3, 4], [6, 7], [9, 10]]
    groups = split_run(run("SELLLELSEL"))
    assert pages_of(groups) == [[2, 3, 4, 5], [6, 7], [9, 10]]


def test_empty_groups_are_dropped() -> None:
    """GIVEN two separators in a row, and a run ending in a separator and a blank
    WHEN it is split
    THEN no empty letter comes out."""
    assert pages_of(split_run(run("SSELSB"))) == [[3, 4]]
    assert split_run(run("SBS")) == []


def test_an_envelope_right_after_a_separator_belongs_to_that_letter() -> None:
    """GIVEN separator, envelope, letter pages
    WHEN split
    THEN the envelope is the first page of the separator's letter (not a letter alone)."""
    assert pages_of(split_run(run("SEL"))) == [[2, 3]]


def test_an_envelope_back_stays_with_its_front() -> None:
    """GIVEN a duplex scan where the envelope's back (flap with the return address) is not blank
    WHEN split
    THEN front and back stay in one letter."""
    assert pages_of(split_run(run("EELLEEL"))) == [[1, 2, 3, 4], [5, 6, 7]]


def test_generated_run_pages_are_classified_and_split_exactly() -> None:
    """GIVEN a generated duplex scanner run of three letters with separators, the second
    separator's QR code smudged and torn so that no reader decodes it
    WHEN every page is classified (no OCR) and the run is split
    THEN the letters come out exactly: separators and blank backs dropped, the damaged
    separator recognised by its frame rather than glued to the letter before it."""
    from letterbridge.samples import make_letter, make_roster, make_scanner_run
    from ocr.separator import is_separator
    from ocr.split import classify_page

    roster = make_roster(6, seed=2)
    mail = [
        make_letter(person, seed=i, style=style, n_pages=n, pii=False)
        for i, (person, style, n) in enumerate(
            zip(roster.inmates[:3], ["typed", "handwriting", "typed"], [2, 1, 1], strict=True)
        )
    ]
    pages, truth = make_scanner_run(mail, duplex_blanks=True, unreadable_separator_at=1, seed=5)
    damaged = pages[2 * (len(mail[0].pages) + 1)]  # after sheet 1, its back, letter 1 + backs
    assert not is_separator(damaged)
    kinds = [classify_page(img) for img in pages]
    assert kinds.count("separator") == 3
    assert kinds.count("envelope") == 3
    assert split_run([PageInfo(i, k) for i, k in enumerate(kinds, start=1)]) == [
        [PageInfo(i, kinds[i - 1]) for i in letter] for letter in truth
    ]
