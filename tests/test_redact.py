"""Burning boxes, redacted words and text, verification and the hold policy (no OCR needed)."""

from __future__ import annotations

import numpy as np

from ocr.pii import find_in_text, find_pii
from ocr.redact import (
    MARKERS,
    Cover,
    Verification,
    burn,
    covers_from_findings,
    needs_human,
    redacted_text_from_string,
    verify_page,
    words_after_redaction,
)
from ocr.types import OcrPage, Word, words_to_text

WHITE = np.full((400, 1600), 255, np.uint8)  # a blank page; test words lie inside it


def redacted_words(words: list[Word], findings, manual_boxes=()) -> list[Word]:
    """The one shipped function, fed the finders' boxes and a person's, as the flow does."""
    covers = covers_from_findings(findings) + [Cover("manual", tuple(b)) for b in manual_boxes]
    return words_after_redaction(words, covers)


def redacted_text(words: list[Word], findings, manual_boxes=()) -> str:
    return words_to_text(redacted_words(words, findings, manual_boxes))


def words_from(text: str) -> list[Word]:
    """Words laid out like a typed page: one line per text line, 20 px a character."""
    words: list[Word] = []
    for y, raw in enumerate(text.split("\n")):
        x = 0
        for token in raw.split(" "):
            box = (x * 20, y * 50, (x + len(token)) * 20, y * 50 + 30)
            words.append(Word(token, 95.0, *box, block=1, par=1, line=y + 1))
            x += len(token) + 1
    return words


def test_burn_paints_padded_black_boxes_clipped_to_the_image_on_a_copy():
    """GIVEN a white page and a box near its edge WHEN burned with pad 8
    THEN the padded box is black, clipped at the edge, the rest is white, the input unchanged."""
    img = np.full((100, 200), 255, np.uint8)
    out = burn(img, [(10, 20, 30, 40), (190, 90, 250, 130)], pad=8)
    assert (img == 255).all()
    assert (out[12:48, 2:38] == 0).all()
    assert out[11, 20] == 255 and out[48, 20] == 255 and out[30, 1] == 255 and out[30, 38] == 255
    assert (out[82:100, 182:200] == 0).all()
    assert int((out == 0).sum()) == 36 * 36 + 18 * 18


def test_burn_colour_image_all_channels():
    img = np.full((50, 50, 3), 200, np.uint8)
    out = burn(img, [(10, 10, 20, 20)], pad=0)
    assert (out[10:20, 10:20] == 0).all() and out[9, 9].tolist() == [200, 200, 200]


def test_redacted_words_one_marker_per_span_even_across_lines():
    """GIVEN an address over two lines and a phone WHEN the words are redacted
    THEN each span is one marker word where it started, with the box of its first line,
    and no digit of either value is left."""
    words = words_from("send to 4410 Oak Drive\nFresno, CA 93701 or call 312-555-0142 ok")
    findings = find_pii(words)
    assert [f.kind for f in findings] == ["address", "phone"]
    out = redacted_words(words, findings)
    texts = [w.text for w in out]
    assert texts == ["send", "to", MARKERS["address"], "or", "call", MARKERS["phone"], "ok"]
    marker = out[2]
    assert marker.box == (words[2].x0, words[2].y0, words[4].x1, words[4].y1)
    assert marker.line_key == words[2].line_key
    assert not any(c.isdigit() for c in " ".join(texts))
    assert redacted_text(words, findings) == (
        f"send to {MARKERS['address']}\nor call {MARKERS['phone']} ok"
    )


def test_manual_boxes_remove_the_words_under_them():
    """GIVEN a name a person boxed by hand WHEN redacted THEN the two words become one
    "[removed]" and the words around stay."""
    words = words_from("my cousin Tina Marsh says hi")
    box = (words[2].x0 - 2, words[2].y0, words[3].x1 + 2, words[3].y1)
    out = redacted_words(words, [], manual_boxes=[box])
    assert [w.text for w in out] == ["my", "cousin", "[removed]", "says", "hi"]
    assert out[2].x1 == words[3].x1


def test_a_box_over_part_of_a_word_takes_the_whole_word_out_of_the_text():
    """GIVEN a person's box over a fifth of "7781" (regression: the shipped path kept it)
    WHEN the words a pen pal reads are made THEN "7781" is gone and the words around stay."""
    words = words_from("the code is 7781 ok")
    code = words[3]
    fifth = (code.x1 - code.x0) // 5
    box = (code.x0, code.y0, code.x0 + fifth, code.y1)
    assert redacted_text(words, [], manual_boxes=[box]) == "the code is [removed] ok"


def test_a_pixel_of_a_box_does_not_take_a_neighbour_out():
    """GIVEN a box whose edge grazes the next word by one pixel WHEN redacted THEN that word stays."""
    words = words_from("call 312-555-0142 today")
    phone = words[1]
    box = (phone.x0, phone.y0, words[2].x0 + 1, phone.y1)
    assert redacted_text(words, [], manual_boxes=[box]) == "call [removed] today"


def test_original_words_are_not_modified():
    words = words_from("call 312-555-0142")
    before = [w.text for w in words]
    redacted_words(words, find_pii(words))
    assert [w.text for w in words] == before


def test_redacted_text_from_string():
    text = "Call 312-555-0142 or mail tina@example.com."
    out = redacted_text_from_string(text, find_in_text(text))
    assert out == "Call [phone removed] or mail [email removed]."


def test_verify_fails_closed_when_anything_is_still_readable():
    """GIVEN an OCR callable that still reads a phone number on the burned page
    WHEN verified THEN not passed, and the problem names the kind but not the number."""
    leaked = OcrPage(words=words_from("call 312-555-0142"), confidence=95)
    result = verify_page(WHITE, ocr=lambda img: leaked)
    assert result == Verification(False, ["1 phone still readable after redaction"])
    assert "0142" not in " ".join(result.problems)


def test_verify_passes_a_clean_page_and_keeps_the_senders_number():
    clean = OcrPage(words=words_from("Your friend Joe 12345-678"), confidence=95)
    assert verify_page(WHITE, ocr=lambda img: clean, sender_number="12345-678").passed


def test_verify_fails_on_a_number_the_finders_cannot_name():
    """GIVEN a re-read page where half a number survived in a shape no finder knows and
    an "@" survived WHEN verified THEN it fails, while dates, years, small numbers and the
    sender's own number (even written 11-A-4433) do not count."""
    # Five digits: below the catch-all (six or more), caught by the second net only.
    leftover = OcrPage(words=words_from("reach her at 4471 2 or bob@ exam"), confidence=95)
    result = verify_page(WHITE, ocr=lambda img: leftover)
    assert not result.passed
    assert result.problems == [
        "1 unexplained number(s) of 4+ digits still readable",
        "1 word(s) with '@' still readable",
    ]
    ordinary = OcrPage(
        words=words_from("Nancy Jones 11-A-4433\n3/9/24 in 2025 I was 42 at 10:30 in the 1990s"),
        confidence=95,
    )
    assert verify_page(WHITE, ocr=lambda img: ordinary, sender_number="11A4433").passed


def test_verify_fails_on_a_card_number_ocr_read_as_letters():
    """GIVEN a handwritten card number OCR read as "60M MM MM M7" (no finder can see a card
    there) WHEN verified THEN it fails; ordinals, times and words read with 1/0/5 for I/O/S
    ("1S", "G00D") do not."""
    misread = OcrPage(words=words_from("THE CARD NUMBER 60M MM MM M7 STILL WORKS"), confidence=93)
    result = verify_page(WHITE, ocr=lambda img: misread)
    assert result.problems == ["2 word(s) mixing letters and digits still readable"]
    fine = OcrPage(words=words_from("ON THE 2nd AT 9am IT 1S G00D, 4th time"), confidence=93)
    assert verify_page(WHITE, ocr=lambda img: fine).passed


def test_verify_ignores_what_ocr_reads_into_a_burned_box():
    """GIVEN a burned page on which Tesseract reads the black box itself as "M9" and a number
    WHEN verified THEN those words are ignored; the same words on white paper fail."""
    words = words_from("with the card M9 5550142 but")
    burned = burn(WHITE, [words[3].box, words[4].box], pad=4)
    page = OcrPage(words=words, confidence=95)
    assert verify_page(burned, ocr=lambda img: page).passed
    assert not verify_page(WHITE, ocr=lambda img: page).passed


def test_verify_fails_when_the_page_cannot_be_read_again():
    def broken(img):
        raise RuntimeError("tesseract crashed")

    result = verify_page(WHITE, ocr=broken)
    assert not result.passed and "RuntimeError" in result.problems[0]


def test_needs_human():
    """Handwriting, low confidence or nothing read: a person must look."""
    words = words_from("hello there friend")
    assert not needs_human(OcrPage(words=words, confidence=91))
    assert needs_human(OcrPage(words=words, confidence=60))
    assert needs_human(OcrPage(words=words, confidence=91, needs_transcription=True))
    assert needs_human(OcrPage(words=[], confidence=0))
    assert not needs_human(OcrPage(words=words, confidence=60), low_confidence=50)


def test_needs_human_for_one_line_ocr_could_barely_read():
    """GIVEN a page read with high confidence except one garbled line WHEN judged
    THEN a person must look (the line may be a number OCR could not read); a lone number on
    its own line that OCR rated low (split in two words) does not count."""
    words = words_from("hello there friend\n| if | oe\n#44066 -533")
    for w in words:
        w.conf = 30.0 if w.line in (2, 3) else 96.0
    assert needs_human(OcrPage(words=words, confidence=90))
    lone = [w for w in words if w.line != 2]
    assert not needs_human(OcrPage(words=lone, confidence=90))


def test_marker_words_are_not_findings_themselves():
    """GIVEN already-redacted words WHEN searched again THEN markers are not found as details."""
    words = words_from("call 312-555-0142 or 4111 1111 1111 1111")
    out = redacted_words(words, find_pii(words))
    assert find_pii(out) == []
    assert isinstance(out[0], Word)


def test_a_pp_ocr_page_is_trusted_on_its_own_scale():
    """GIVEN the same reading at mean confidence 93 from each engine WHEN the hold policy looks
    THEN Tesseract's passes (its 93 is a good page) and PP-OCR's waits for a person (its 93
    is a 4-6 % CER page); at 99 PP-OCR's passes too."""
    words = words_from("dear friend all is well here\nthe garden has tomatoes now")
    for w in words:
        w.conf = 93.0
    assert not needs_human(OcrPage(words=words, confidence=93.0, engine="tesseract"))
    assert needs_human(OcrPage(words=words, confidence=93.0, engine="ppocr"))
    for w in words:
        w.conf = 99.0
    assert not needs_human(OcrPage(words=words, confidence=99.0, engine="ppocr"))


def test_verify_allows_the_senders_number_written_in_two_words_and_nothing_beside_it():
    """GIVEN the sender's own number 22A8684 written "#22 A8684" (the way a typed letter's
    header and signature wrote it; held as a leftover number-like word before) WHEN verified
    THEN it passes; an identifier written next to it, or on its own, still fails."""
    own = OcrPage(words=words_from("Linda Morris\n#22 A8684\nRespectfully, Linda #22 A8684"),
                  confidence=95)
    assert verify_page(WHITE, ocr=lambda img: own, sender_number="22A8684").passed
    beside = OcrPage(words=words_from("#22 A8684 and X7Y9Z3"), confidence=95)
    assert not verify_page(WHITE, ocr=lambda img: beside, sender_number="22A8684").passed
    # Half of another number: "A8684" alone is not the sender's number.
    other = OcrPage(words=words_from("#31 A8684"), confidence=95)
    assert not verify_page(WHITE, ocr=lambda img: other, sender_number="22A8684").passed
