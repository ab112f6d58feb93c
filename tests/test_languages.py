"""Which languages Tesseract reads a page with under `ocr_languages = "auto"` (the default):
English first, and a page's own language once it is known, so no page is read twice for it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from stored_items import new_item

from letters.pages import page_languages
from letters.redaction import PiiContext, check_burned
from ocr import tesseract
from ocr.redact import Cover
from ocr.tesseract import reading_languages
from storage.db import session_scope
from storage.models import Page, PageKind


@pytest.mark.parametrize(("setting", "known", "expected"), [
    ("auto", "", "auto"),
    ("auto", "eng", "eng"),
    ("auto", "spa", "spa+eng"),
    ("eng+spa", "eng", "eng+spa"),  # a setting other than "auto" is used as it is
    ("eng", "spa", "eng"),
])
def test_a_known_language_is_read_at_once_only_under_auto(setting, known, expected) -> None:
    assert reading_languages(setting, known) == expected


def _letter(session, languages: list[str]) -> list[Page]:
    item = new_item(session)
    pages = [Page(item_id=item.id, index=1, kind=PageKind.envelope, image_key="e")]
    for n, language in enumerate(languages, start=2):
        pages.append(Page(item_id=item.id, index=n, kind=PageKind.letter, image_key=f"p{n}",
                          language=language, words_key=f"w{n}" if language else ""))
    session.add_all(pages)
    session.flush()
    return pages


def test_a_letter_read_as_spanish_has_its_other_pages_read_as_spanish_at_once(
        lb_home: Path) -> None:
    """GIVEN a letter whose first page read Spanish WHEN its next page is read under "auto"
    THEN it is read with spa+eng at once; a page of an English letter is read English first;
    a setting other than "auto" is used as it is."""
    with session_scope() as session:
        envelope, _read, unread = _letter(session, ["spa", ""])
        assert page_languages(session, unread, "auto") == "spa+eng"
        assert page_languages(session, envelope, "auto") == "auto"  # read_envelope's choice
        assert page_languages(session, unread, "eng+spa") == "eng+spa"
        _, _read, english_unread = _letter(session, ["eng", ""])
        assert page_languages(session, english_unread, "auto") == "auto"


@pytest.fixture
def read_with(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The `-l` of every Tesseract run from here on (the runs themselves go on as they are)."""
    languages: list[str] = []
    run = tesseract.run_tesseract

    def spy(img, **options):
        languages.append(options["lang"])
        return run(img, **options)

    monkeypatch.setattr(tesseract, "run_tesseract", spy)
    return languages


def test_a_burned_page_is_read_again_in_the_language_its_first_reading_found(
        read_with: list[str]) -> None:
    """GIVEN a burned page under "auto" WHEN it is checked THEN its bands are read once, with
    the language its first reading found: English alone for an English page, spa+eng for a
    Spanish one (not English first and Spanish again)."""
    page = np.full((900, 1700), 255, np.uint8)
    cv2.putText(page, "Dear Ana, all is well here.", (120, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6,
                0, 3)
    box = (120, 560, 700, 610)
    cv2.putText(page, "my code is", (120, 600), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
    page[box[1]:box[3], 800:1300] = 0
    for language, expected in (("eng", ["eng"]), ("spa", ["spa+eng"])):
        read_with.clear()
        result = check_burned(page, [Cover("manual", (800, 560, 1300, 610))], PiiContext(),
                              language=language)
        assert result.passed, result.problems
        assert read_with == expected


def test_an_envelope_under_auto_is_read_with_both_languages_at_once(
        read_with: list[str]) -> None:
    """GIVEN an envelope WHEN read under "auto" THEN Tesseract reads it once, with eng+spa: a
    sender block is too little prose to tell its language by."""
    from ocr.envelope import read_envelope

    envelope = np.full((1200, 2800), 255, np.uint8)
    for n, line in enumerate(("Ray Ortiz 12345-678", "North Unit", "PO Box 1000")):
        cv2.putText(envelope, line, (120, 200 + 80 * n), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3)
    read_envelope(envelope, languages="auto")
    assert read_with and set(read_with) == {"eng+spa"}
