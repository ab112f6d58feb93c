"""Envelopes: told from letters without OCR, turned upright by the stamp, sender block read."""

from __future__ import annotations

import numpy as np
import pytest

from letterbridge.samples import make_letter, make_roster
from ocr.envelope import envelope_rotation, looks_like_envelope, read_envelope, read_sender
from ocr.types import OcrPage, Word


@pytest.fixture(scope="module")
def roster():
    return make_roster(12, seed=0)


@pytest.fixture(scope="module")
def typed_letter(roster):
    """A typed letter from the federal inmate, its reply code printed on the envelope."""
    return make_letter(
        roster.inmates[0], seed=3, style="typed", n_pages=1, pii=False, code="K7M-3PF"
    )


def words_from_lines(lines: list[tuple[int, int, str]], *, conf: float = 92.0) -> list[Word]:
    """Hand-made OCR output: (x, y, text) per line, one Tesseract line (block 1) each."""
    words = []
    for n, (x, y, text) in enumerate(lines, start=1):
        for token in text.split():
            width = 24 * len(token)
            words.append(Word(token, conf, x, y, x + width, y + 48, block=1, par=1, line=n))
            x += width + 24
    return words


ENVELOPE_LINES = [
    (120, 100, "Marcus Reed #40321-177"),
    (120, 170, "FCI Cedar Bend"),
    (120, 240, "P.O. Box 950"),
    (120, 310, "Oxford, WI 53952"),
    (2500, 100, "USA FOREVER"),  # the stamp
    (1150, 520, "Letterbridge Pen Pal Program"),
    (1150, 590, "PO Box 1000"),
    (1150, 660, "Springfield, IL 62701"),
]


def test_sender_block_is_read_into_its_parts() -> None:
    """GIVEN OCR words of an envelope: sender block top left, stamp, program's address
    WHEN the sender is read
    THEN name, number, facility and address come from the sender block only."""
    page = OcrPage(words=words_from_lines(ENVELOPE_LINES), width=2850, height=1238)
    guess = read_sender(page)
    assert guess.name == "Marcus Reed"
    assert guess.inmate_number == "40321-177"
    assert guess.system == "federal"
    assert guess.facility == "FCI Cedar Bend"
    assert guess.address_lines == ["P.O. Box 950", "Oxford, WI 53952"]
    assert guess.lines[0] == "Marcus Reed #40321-177" and len(guess.lines) == 4
    assert guess.code is None
    assert 0.8 < guess.confidence <= 1.0


def test_number_on_its_own_line_with_a_label_and_a_code_on_the_envelope() -> None:
    """GIVEN a sender block with the number on its own labelled line, and "Ref: <code>" printed
    at the bottom left
    WHEN the sender is read
    THEN the number line is not taken for the facility, the hint (CA) gives the system, and the
    code is reported."""
    lines = [
        (110, 90, "LUIS ORTIZ"),
        (110, 160, "CDCR # AB1234"),
        (110, 230, "Dry Creek State Prison"),
        (110, 300, "P.O. Box 4490"),
        (110, 370, "Lancaster, CA 93539"),
        (110, 1050, "Ref: K7M-3PF"),
    ]
    guess = read_sender(OcrPage(words=words_from_lines(lines), width=2850, height=1238))
    assert (guess.name, guess.inmate_number, guess.system) == ("LUIS ORTIZ", "AB1234", "ca")
    assert guess.facility == "Dry Creek State Prison"
    assert guess.address_lines == ["P.O. Box 4490", "Lancaster, CA 93539"]
    assert guess.code == "K7M3PF"


def test_scraps_and_a_misread_label_stay_out_of_the_name() -> None:
    """GIVEN a name line where OCR misread the label ("TDC)") and left scraps
    WHEN the sender is read
    THEN the name is only the name, and a number glued to scraps is still found."""
    lines = [(100, 100, "Henry King TDC) #31351909 yYy"), (100, 170, "Bluebonnet Unit")]
    guess = read_sender(OcrPage(words=words_from_lines(lines), width=2850, height=1238))
    assert (guess.name, guess.inmate_number, guess.facility) == (
        "Henry King",
        "31351909",
        "Bluebonnet Unit",
    )
    lines = [
        (100, 100, "Malik A. Kim"),
        (100, 170, "CDCR HFJW7194"),
        (100, 240, "Dry Creek State Prison"),
    ]
    guess = read_sender(OcrPage(words=words_from_lines(lines), width=2850, height=1238))
    assert (guess.name, guess.inmate_number) == ("Malik A. Kim", "JW7194")


def test_a_page_without_a_sender_block_reads_as_nothing() -> None:
    """GIVEN an envelope whose only text is the program's address in the middle
    WHEN the sender is read
    THEN nothing is guessed and confidence is 0."""
    page = OcrPage(words=words_from_lines(ENVELOPE_LINES[5:]), width=2850, height=1238)
    guess = read_sender(page)
    assert (guess.name, guess.inmate_number, guess.confidence) == ("", "", 0.0)


def test_envelope_pages_are_told_from_letter_pages_by_shape(typed_letter) -> None:
    """GIVEN a scanned #10 envelope, its letter page, and both laid on a dark flatbed scan
    WHEN each is checked without OCR
    THEN envelopes (also the one on the letter-size scan) are envelopes, letters are not."""
    envelope, letter = typed_letter.pages[0], typed_letter.pages[1]
    assert looks_like_envelope(envelope) and looks_like_envelope(np.rot90(envelope))
    assert not looks_like_envelope(letter)
    flatbed = np.full((3300, 2550), 40, dtype=np.uint8)  # letter-size scan, open lid
    on_glass = flatbed.copy()
    on_glass[60 : 60 + envelope.shape[1], 80 : 80 + envelope.shape[0]] = np.rot90(envelope)
    assert looks_like_envelope(on_glass)
    small_letter = letter[::2, ::2]
    with_letter = flatbed.copy()
    with_letter[100 : 100 + small_letter.shape[0], 100 : 100 + small_letter.shape[1]] = small_letter
    assert not looks_like_envelope(with_letter)


def test_stamp_tells_which_way_up_an_envelope_is(typed_letter) -> None:
    """GIVEN an envelope scanned upright, upside down and on either side
    WHEN its orientation is judged from the stamp
    THEN the clockwise turn that makes it upright is returned."""
    envelope = typed_letter.pages[0]
    assert envelope_rotation(envelope) == 0
    assert envelope_rotation(np.ascontiguousarray(envelope[::-1, ::-1])) == 180
    assert envelope_rotation(np.ascontiguousarray(np.rot90(envelope, 1))) == 90  # turned left
    assert envelope_rotation(np.ascontiguousarray(np.rot90(envelope, -1))) == 270
    assert envelope_rotation(np.full((1238, 2850), 235, dtype=np.uint8)) is None


def test_real_ocr_reads_a_typed_envelope_with_its_code(roster, typed_letter) -> None:
    """GIVEN a generated typed envelope, scanned, carrying a reply code
    WHEN it goes through real Tesseract and the sender is read
    THEN name, number, facility and code are what was printed."""
    person = roster.inmates[0]
    _, page = read_envelope(typed_letter.pages[0], languages="eng")
    guess = read_sender(page)
    assert guess.name.upper() == person.name.upper()
    assert guess.inmate_number == person.inmate_number
    assert guess.facility == person.facility
    assert guess.code == "K7M3PF"


def test_real_ocr_reads_a_handwriting_style_envelope_upside_down(roster) -> None:
    """GIVEN a handwriting-style envelope (Texas, "TDCJ #" label) fed upside down
    WHEN it goes through real Tesseract and the sender is read
    THEN it is turned upright and name, number and facility are read."""
    person = roster.inmates[3]
    letter = make_letter(person, seed=2, style="handwriting", n_pages=1, pii=False)
    upside_down = np.ascontiguousarray(letter.pages[0][::-1, ::-1])
    prepared, page = read_envelope(upside_down, languages="eng")
    assert prepared.rotation == 180
    guess = read_sender(page)
    assert guess.name.replace(".", "").upper() == person.name.replace(".", "").upper()
    assert guess.inmate_number == person.inmate_number
    assert guess.facility == person.facility
