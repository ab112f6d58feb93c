"""Finders for personal details, on hand-made OCR words and plain text."""

from __future__ import annotations

import pytest

from ocr.pii import (
    KINDS,
    Finding,
    find_in_text,
    find_pii,
    fold_confusions,
    page_text_with_map,
)
from ocr.types import Word, words_to_text

CHAR_W, LINE_H = 20, 50


def words_from(text: str) -> list[Word]:
    """Words laid out like a typed page: one line per text line, blank line = new paragraph."""
    words: list[Word] = []
    par, line = 1, 0
    for y, raw in enumerate(text.split("\n")):
        if not raw.strip():
            par, line = par + 1, 0
            continue
        line += 1
        x = 0
        for token in raw.split(" "):
            if token:
                words.append(
                    Word(
                        token,
                        95.0,
                        x * CHAR_W,
                        y * LINE_H,
                        (x + len(token)) * CHAR_W,
                        y * LINE_H + 30,
                        block=1,
                        par=par,
                        line=line,
                    )  # fmt: skip
                )
            x += len(token) + 1
    return words


def found(text: str, **kwargs) -> list[tuple[str, str]]:
    """(kind, text of the span) for each finding in a string."""
    return [(f.kind, text[f.start : f.end]) for f in find_in_text(text, **kwargs)]


def kinds_of(text: str, **kwargs) -> list[str]:
    return [kind for kind, _ in found(text, **kwargs)]


def covered(words: list[Word], findings: list[Finding]) -> str:
    return " ".join(words[i].text for f in findings for i in f.word_indices)


# --- the page text and its map ------------------------------------------------------------


def test_page_text_is_words_to_text_and_maps_every_character_to_its_word():
    """GIVEN words on lines and paragraphs WHEN the page text is built
    THEN it equals words_to_text and every character of a word points back to that word."""
    words = words_from("Dear Sam,\nhow are you\n\nYour friend,\nJoe")
    text, owner = page_text_with_map(words)
    assert text == words_to_text(words)
    for i, word in enumerate(words):
        start = [c for c, o in enumerate(owner) if o == i]
        assert text[start[0] : start[-1] + 1] == word.text


def test_fold_confusions_only_touches_numbers():
    """GIVEN a number with letters OCR put in place of digits, next to ordinary words
    WHEN folded THEN the number is all digits and the words are unchanged, same length."""
    text = "Bill said ID 3I2-555-O142 is SOLD"
    folded = fold_confusions(text)
    assert folded == "Bill said ID 312-555-0142 is SOLD"
    assert len(folded) == len(text)


# --- phones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "(312) 555-0142",
        "312-555-0142",
        "312.555.0142",
        "312 555 0142",
        "+1 312 555 0142",
        "1-312-555-0142",
        "3125550142",
        "(312)555-0142",
        "555-0142",
    ],
)
def test_phone_formats(number):
    """GIVEN a US phone number in a common format inside a sentence WHEN searched
    THEN exactly that number is found as a phone."""
    text = f"You can call my mom at {number} if you want."
    assert found(text) == [("phone", number)]


@pytest.mark.parametrize(
    "number", ["3I2-555-O142", "(3l2) SSS-0142", "312-555-Ol42", "3l2.5B5.0142", "3l5 555 015)"]
)
def test_phone_with_ocr_confusions(number):
    """GIVEN a phone number where OCR read some digits as letters WHEN searched
    THEN it is still found: a misread digit must not let it through."""
    assert found(f"her cell is {number} now") == [("phone", number)]


def test_phone_split_across_lines_maps_to_both_lines():
    """GIVEN a phone number broken over two lines WHEN found in words
    THEN the finding covers the words on both lines with one box per line."""
    words = words_from("please call 312-555-\n0142 after six")
    findings = find_pii(words)
    assert [f.kind for f in findings] == ["phone"]
    assert covered(words, findings) == "312-555- 0142"
    assert len(findings[0].boxes) == 2
    assert findings[0].boxes[0][1] != findings[0].boxes[1][1]


def test_phone_in_separate_words_maps_to_one_box():
    """GIVEN '(312) 555 0142' as three OCR words WHEN found THEN one finding, one box
    spanning the three words."""
    words = words_from("call (312) 555 0142 today")
    (finding,) = find_pii(words)
    assert finding.word_indices == [1, 2, 3]
    assert finding.boxes == [(words[1].x0, words[1].y0, words[3].x1, words[3].y1)]
    assert finding.reason == "US phone number (phonenumbers)"


# --- SSNs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ssn", ["987-65-4321", "987 65 4321", "9O1-23-45G7", "123-45-6789"])
def test_ssn_formats(ssn):
    """GIVEN an SSN (also with OCR confusions) WHEN searched THEN found as ssn."""
    assert found(f"The form wants {ssn} on it.") == [("ssn", ssn)]


def test_ssn_without_dashes_labelled():
    """GIVEN 'my social is' and nine digits WHEN searched THEN it is an ssn."""
    assert found("my social is 987654321 ok") == [("ssn", "987654321")]


def test_ssn_label_in_spanish():
    """GIVEN the Spanish 'seguro social' label WHEN searched THEN the number is an ssn."""
    assert kinds_of("Mi número de seguro social es 912-34-5678 por si acaso.") == ["ssn"]


# --- emails -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "john.smith@example.com",
        "jane_42@mail.example.net",
        "tina@example.org",
        "bob@ example.com",
        "jgriffiné@example.net",
    ],
)
def test_email_formats(email):
    assert found(f"write to {email}, thanks") == [("email", email)]


@pytest.mark.parametrize(
    "read_as",
    [
        "billy.perezOmail.example.com",
        "billy.perez0mail.example.com",
        "billy.perez mail.example.com",
        "bob_22&example.net",
        "bob_22©example.net",
    ],
)
def test_email_where_ocr_misread_the_at_sign(read_as):
    """GIVEN an email whose "@" OCR read as O, 0, &, © or a space (seen on typed pages)
    WHEN searched THEN the whole address, local part included, is an email."""
    assert found(f"it is {read_as} if you want") == [("email", read_as)]


def test_email_split_by_ocr_keeps_its_head():
    """GIVEN "michelle_78@example.com" read as "michelle 78@example.com" WHEN searched
    THEN the first name goes with the rest of the address."""
    assert found("es michelle 78@example.com por si") == [("email", "michelle 78@example.com")]


def test_email_written_out_and_without_at():
    """GIVEN an address spelled 'at ... dot com' and one where OCR lost the '@'
    WHEN searched THEN both are emails."""
    assert kinds_of("it is tina at example dot com ok") == ["email"]
    assert kinds_of("try tinasmithgmail.com too") == ["email"]


# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "742 Evergreen Terrace",
        "1600 Pennsylvania Ave NW",
        "12 Maple St.",
        "4410 Oak Drive Apt 12B",
        "88 Lincoln Blvd #4",
        "310 N. Church Street",
        "742 Evergreen Terrace, Springfield, IL 62704",
        "P.O. Box 1234, Dallas, TX 75201",
        "12 main st",
    ],
)
def test_address_formats(address):
    assert found(f"She moved to {address} last month.") == [("address", address)]


def test_address_block_crosses_lines():
    """GIVEN a street line, an apartment and a 'City, ST ZIP' line under it
    WHEN found in words THEN one address finding covers both lines, one box per line."""
    words = words_from("Here is the address:\n4410 Oak Drive Apt 3\nFresno, CA 93701\nThanks")
    findings = find_pii(words)
    assert [f.kind for f in findings] == ["address"]
    assert covered(words, findings) == "4410 Oak Drive Apt 3 Fresno, CA 93701"
    assert len(findings[0].boxes) == 2


def test_address_with_misread_suffix_is_kept_whole_by_its_city_line():
    """GIVEN a street line whose suffix OCR misread, above a "City, ST ZIP" line
    WHEN searched THEN both lines are one address (the house number does not stay behind)."""
    text = "send it to\n1728 Chestnut Streei\nAllentown, PA 18142\nthanks"
    assert found(text) == [("address", "1728 Chestnut Streei\nAllentown, PA 18142")]


def test_address_house_number_with_confusion():
    assert found("send it to I2O Walnut Avenue please") == [("address", "I2O Walnut Avenue")]


def test_ordinary_numbers_are_not_addresses():
    """GIVEN prose with numbers and capitalised words WHEN searched THEN nothing is found."""
    text = (
        "I have 2 kids and 4 grandkids. We had 3 Big Days in May 2021 and I walk 5 laps "
        "in the yard. I get up at 4 in the morning, my board date is in 2 years. "
        "In the 1990s a stamp cost $1.50. Dated 3/14/24 and May 5, 2024."
    )
    assert found(text) == []


# --- cards --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card",
    ["4111 1111 1111 1111", "4012-8888-8888-1881", "5555555555554444", "6011 1111 1111 1117"],
)
def test_card_formats(card):
    assert found(f"she used {card} for it") == [("card", card)]


def test_card_failing_luhn_is_not_a_card():
    """GIVEN a 16-digit number whose Luhn check fails and no card label nearby
    WHEN searched THEN it is not reported as a card."""
    assert "card" not in kinds_of("the case file is 4111 1111 1111 1112 ok")


def test_card_with_confusion_still_passes_luhn():
    """GIVEN a card number with 'l' and 'O' for 1 and 0 WHEN searched THEN it is a card."""
    assert kinds_of("her card 4l11 1111 1111 1111 failed") == ["card"]


# --- bank ---------------------------------------------------------------------------------


def test_routing_number_by_checksum_and_account_next_to_it():
    """GIVEN an unlabelled ABA-valid routing number followed by an account number
    WHEN searched THEN both are bank numbers."""
    assert found("wire it to 021000021 0001234567 please") == [
        ("bank", "021000021"),
        ("bank", "0001234567"),
    ]


def test_routing_checksum_negative():
    """GIVEN nine digits that fail the ABA checksum WHEN searched THEN it is not a bank number
    (it is still redacted, as a likely SSN)."""
    assert found("the number 021000022 here") == [("ssn", "021000022")]


def test_labelled_account_numbers():
    assert found("Her bank info is routing 011000015, account number 12345678901.") == [
        ("bank", "011000015"),
        ("bank", "12345678901"),
    ]
    assert found("use acct # 55512345 for it") == [("bank", "55512345")]
    assert kinds_of("usa el número de ruta 011000015 y la cuenta 998877665544 del banco") == [
        "bank",
        "bank",
    ]


# --- inmate numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["12345-678", "AB1234", "C12345", "A12345", "12A3456", "I2345-67B", "K3O21O"],
)
def test_inmate_number_patterns(number):
    assert found(f"my bunkie (number {number}) says hi") == [("inmate_number", number)]


def test_texas_numbers_need_tdcj_or_hash():
    assert found("TDCJ number 01234567 is my friend") == [("inmate_number", "01234567")]
    assert found("his is #2345678 too") == [("inmate_number", "2345678")]


def test_senders_own_number_is_kept_even_when_misread():
    """GIVEN the sender's own number (as written and as OCR misread it) and a friend's number
    WHEN searched with sender_number THEN only the friend's number is found."""
    text = "Joe Smith 12345-678\nmy own number is I2345-67B and my friend is 54321-876"
    assert found(text, sender_number="12345-678") == [("inmate_number", "54321-876")]


def test_senders_own_number_other_formats_kept():
    assert found("Joe AB1234 and Tim CD5678", sender_number="AB1234") == [
        ("inmate_number", "CD5678")
    ]
    assert found("TDCJ #01234567", sender_number="01234567") == []
    assert found("DIN# 12-A-3456 hi", sender_number="DIN 12A3456") == []
    assert found("Reg. No. 12345-678", sender_number="Reg. No. 12345-678") == []


def test_known_inmate_numbers_found_in_any_spelling():
    """GIVEN a known roster number written with spaces and a look-alike letter
    WHEN searched THEN it is found."""
    assert found("tell X 99 A 12B4 hi", known_inmate_numbers=["99A1284"]) == [
        ("inmate_number", "99 A 12B4")
    ]


# --- watch terms --------------------------------------------------------------------------


def test_watch_terms_whole_words_case_insensitive_across_lines():
    """GIVEN a watch term in other case, split over two lines, and a word that only
    contains it WHEN searched THEN the phrase is found on both lines, the longer word is not."""
    words = words_from(
        "I heard about your job at MAPLEWOOD\nelementary school. Maplewoods are nice"
    )
    findings = find_pii(words, watch_terms=["Maplewood Elementary"])
    assert [f.kind for f in findings] == ["watch_term"]
    assert covered(words, findings) == "MAPLEWOOD elementary"
    assert len(findings[0].boxes) == 2
    assert found("Riverside Bakerys", watch_terms=["Riverside Bakery"]) == []


def test_watch_term_with_ocr_confusion():
    assert kinds_of("at Lakesh0re CIinic today", watch_terms=["Lakeshore Clinic"]) == ["watch_term"]


# --- general ------------------------------------------------------------------------------


def test_reasons_never_hold_the_value():
    """GIVEN a letter with one of each kind WHEN found THEN every kind appears and no reason
    contains any digit or the email/term itself."""
    text = (
        "Call 312-555-0142. SSN 987-65-4320. Mail tina@example.com. Send to 12 Oak Street, "
        "Waco, TX 76701. Card 4111 1111 1111 1111. Routing 011000015 account 123456789. "
        "My friend 54321-876. I miss Greenfield Library."
    )
    findings = find_in_text(text, watch_terms=["Greenfield Library"])
    assert sorted({f.kind for f in findings}) == sorted(KINDS)
    for f in findings:
        assert not any(c.isdigit() for c in f.reason), f.reason
        assert "tina" not in f.reason and "Greenfield" not in f.reason


def test_two_details_in_one_word_make_one_finding():
    """GIVEN an email and a phone glued into one OCR word WHEN found in words
    THEN there is one finding for that word, not two sharing it."""
    words = words_from("reach tina@example.com/312-555-0142 soon")
    findings = find_pii(words)
    assert len(findings) == 1
    assert findings[0].word_indices == [1]


def test_ordinary_letter_has_no_findings():
    text = (
        "Dear Sam,\nThank you so much for your last letter, it really made my week.\n"
        "I started a new job in the kitchen, so I get up at four in the morning now.\n"
        "My GED class meets on Tuesdays and Thursdays. I have 2 years left.\n"
        "Your friend,\nJoe Smith 12345-678"
    )
    assert found(text, sender_number="12345-678") == []
