"""The mailroom's transcription box starts from the machine reading (issue 15): the page's OCR
words line by line, redacted as a pen pal would read them, beside the page image."""

from __future__ import annotations

import html
import json
import re

from ocr.types import OcrPage
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import MailItem

PAGE = 2  # the letter page of every generated letter (page 1 is its envelope)


def csrf_of(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def textarea(page_html: str) -> tuple[str, list[list[int]]]:
    """The transcription box of the letter page: its text and the line boxes it carries."""
    match = re.search(rf'<textarea name="text" id="text-{PAGE}"[^>]*'
                      r"data-lines='([^']*)'>(.*?)</textarea>", page_html, re.S)
    assert match, "the letter page has no transcription box"
    return html.unescape(match.group(2)), json.loads(html.unescape(match.group(1)))


def make_unsure(item_id: str, word: str) -> None:
    """As if the reader had been unsure of `word` (confidence 30 of 100)."""
    store = get_blob_store()
    with session_scope() as session:
        page = session.get(MailItem, item_id).pages[1]
        reading = OcrPage.from_json(store.get(page.words_key))
        for w in reading.words:
            if w.text == word:
                w.conf = 30.0
        store.put(page.words_key, reading.to_json().encode())


def test_the_transcription_starts_from_the_redacted_reading_line_by_line(world, client_for):
    """GIVEN a letter waiting for review whose page holds a boxed phone number, and a word the
    reader was unsure of
    WHEN the mailroom and an admin open it
    THEN for both the box holds the page's reading one OCR line a line, the phone number as its
    marker; each line carries its place on the page (for the outline beside the image); the
    unsure word is marked in the line-by-line list; the number itself is only in the admin's
    own unredacted view."""
    item = world.ids["ana_review"]
    make_unsure(item, "tomatoes")
    with session_scope() as session:
        read = session.get(MailItem, item).pages[1].text  # unredacted, as OCR read it
    expected = read.replace(world.secret, "[phone removed]").split("\n")
    assert len(expected) == 5

    page = client_for("mailroom").get(f"/letters/{item}").text
    text, boxes = textarea(page)
    assert text.split("\n") == expected
    assert [(y0, y1) for _x0, y0, _x1, y1 in boxes] == [(120 + n * 60, 160 + n * 60)
                                                          for n in range(5)]
    assert '<mark title="the reader was unsure of this word">tomatoes</mark>' in page
    assert "1 unsure word marked" in page
    assert world.secret not in page

    admin = client_for("admin").get(f"/letters/{item}").text
    assert textarea(admin)[0] == text
    unredacted = admin.index('<details class="admin-only">')
    assert world.secret in admin[unredacted:] and world.secret not in admin[:unredacted]


def test_a_saved_correction_goes_through_the_redaction_rules_and_stays(world, client_for):
    """GIVEN the machine reading in the box
    WHEN the mailroom corrects a line, types the boxed phone number back in and saves
    THEN the box shows their text from then on, the reading stays listed beside it, and the
    text a pen pal reads has the number as its marker (the page's box hides it)."""
    item = world.ids["ana_review"]
    mailroom = client_for("mailroom")
    page = mailroom.get(f"/letters/{item}").text
    text, _boxes = textarea(page)
    corrected = text.replace("[phone removed]", world.secret).replace("now.", "now, and beans.")
    saved = mailroom.post(f"/letters/{item}/pages/{PAGE}/transcription",
                          data={"csrf_token": csrf_of(page), "text": corrected})
    assert saved.status_code == 303

    page = mailroom.get(f"/letters/{item}").text
    assert "(corrected by a person)" in page
    assert "The machine reading, line by line" in page
    with session_scope() as session:
        stored = session.get(MailItem, item).pages[1]
        assert stored.corrected_text == corrected
        assert world.secret not in stored.redacted_text
        assert "Call my sister at [phone removed] please." in stored.redacted_text
        assert "tomatoes now, and beans." in stored.redacted_text
