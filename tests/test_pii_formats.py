"""The privacy gate: the catch-all for numbers, its safe rules, and the finders' new formats."""

from __future__ import annotations

import pytest
from test_pii import words_from  # the same typed-page layout

from ocr.numbers import (
    MIN_DIGITS,
    explain_run,
    is_date,
    is_money,
    is_page_number,
    is_reply_code,
    is_sender_number,
    is_time,
    is_year,
    number_runs,
    unexplained_numbers,
)
from ocr.pii import ALL_KINDS, NUMBER_KIND, canonical_id, find_in_text, find_pii, sender_key
from ocr.reply_codes import check_char, format_code

SENDER = "48211-039"


def found(text: str, **kwargs) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in find_in_text(text, **kwargs)]


def burned(text: str, value: str, **kwargs) -> bool:
    """Whether every non-space character of `value` (inside `text`) lies in a finding."""
    at = text.index(value)
    spans = [(f.start, f.end) for f in find_in_text(text, **kwargs)]
    chars = [c for c in range(at, at + len(value)) if not text[c].isspace()]
    return all(any(s <= c < e for s, e in spans) for c in chars)


def untouched(text: str, value: str, **kwargs) -> bool:
    at = text.index(value)
    return not any(f.start < at + len(value) and at < f.end for f in find_in_text(text, **kwargs))


def gate(text: str, sender: str = "") -> list[str]:
    """What the catch-all alone (no specific finder) burns in `text`."""
    return [text[s:e] for s, e in unexplained_numbers(text, sender=sender)]


# --- the catch-all alone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "4929 3817 2045 6613",  # a card number, Luhn or not
        "4929-3817-2045-6612",
        "738.204.9916",
        "738/204-9916",
        "(738) 204-9916",
        "+44 20 7946 0321",
        "+1 738 204 9916",
        "073 8204 9916",
        "887-41-2093",
        "887412093",
        "8874 120 93",
        "AX-2209-4471-KP",
        "1002 3847 5566 12",
        "17.204.88.193",
    ],
)
def test_the_catch_all_burns_any_grouping_without_the_specific_finders(value):
    """GIVEN a value of 6+ digits in any grouping (spaces, dashes, dots, slashes, parentheses,
    a leading +) WHEN only the catch-all looks THEN the whole of its digits is burned."""
    text = f"She said to keep {value} safe."
    spans = unexplained_numbers(text)
    at = text.index(value)
    digits = [c for c in range(at, at + len(value)) if text[c].isdigit()]
    assert digits and all(any(s <= c < e for s, e in spans) for c in digits), spans


def test_the_catch_all_takes_a_number_glued_to_a_word_and_wrapped_over_lines():
    """GIVEN a number glued to the word before it, and one broken over two lines
    WHEN only the catch-all looks THEN both are burned whole."""
    assert gate("the number is415-555-0132 ok") == ["is415-555-0132"]
    assert gate("call 738-204-\n9916 after six") == ["738-204-\n9916"]
    assert gate("card 4929 3817\n\n2045 6613 ok") == ["4929 3817\n\n2045 6613"]


def test_cursive_look_alikes_fold_when_there_is_digit_evidence():
    """GIVEN "4111 1111 1111 1111" as PP-OCR read a handwritten line, and a phone with a few
    letters for digits WHEN only the catch-all looks THEN each is burned as one run."""
    assert gate("her card 4lll ll1lll ll is it") == ["4lll ll1lll ll"]
    assert gate("call 7z8 2o4 99l6 now") == ["7z8 2o4 99l6"]
    assert gate("card 4ss7 4l98 7809 gbss ok") == ["4ss7 4l98 7809 gbss"]


@pytest.mark.parametrize(
    "text",
    [
        "I told Bill all of it, and we sob so much it is silly.",
        "Go to the ZOO with Lilo, it is a big deal, lol.",
        "so 10 of us and all 3 of them, I was ill 2 days, sob 4 times",
        "I lost 12 lbs in 10 weeks and walked 5 laps, 365 days a year",
    ],
)
def test_ordinary_words_never_become_a_number(text):
    """GIVEN prose full of words made of digit look-alikes ("all", "sob", "Bill", "ill")
    next to small numbers WHEN searched THEN nothing is found."""
    assert found(text) == []


def test_words_ocr_read_with_digits_are_not_numbers():
    """GIVEN words OCR read with 1/0/5 for I/O/S ("1S G00D", "B00K") WHEN only the
    catch-all looks THEN nothing is burned: no group in them is plainly a number."""
    assert gate("ON THE 2nd AT 9am IT 1S G00D, 4th time") == []
    assert gate("the B00K 1S G00D") == []
    assert gate("the card 1S 4lll ok") == ["1S 4lll"]  # a 4 is no letter's look-alike


def test_a_run_needs_two_real_digits_and_six_digits():
    """GIVEN look-alike words with one real digit, and a 5-digit number
    WHEN only the catch-all looks THEN neither is a number."""
    assert gate("Bills 5 lol 6 sobs") == []
    assert gate("ZIP 62704 only") == []
    assert MIN_DIGITS == 6


def test_runs_record_their_groups_and_tokens():
    """GIVEN a phone with parentheses and a dash WHEN split into runs
    THEN it is one run forming one written token, digits folded."""
    (run,) = number_runs("call (3l2) 555-0142 now")
    assert run.digits == "3125550142"
    assert run.real_digits == 9
    assert len(run.tokens) == 1  # ") " joins like a dash: one written number
    assert not run.wrapped


# --- each safe rule -------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["3/14/2024", "14.03.2024", "03-14-24", "2024-03-14", "12/2024",
                                   "3/1/2024 - 3/5/2024", "31/12/1999"])  # fmt: skip
def test_date_rule_accepts_dates(token):
    """GIVEN a date as people write it (either day order, a range) WHEN tested THEN a date."""
    assert is_date(token)


@pytest.mark.parametrize("token", ["13/32/2024", "887-41-2093", "2024-13-40", "555-0142", "3.14159"])
def test_date_rule_rejects_what_no_calendar_has(token):
    """GIVEN a number shaped like a date but with no such day or month, an SSN, a phone
    WHEN tested THEN no date."""
    assert not is_date(token)


def test_time_rule():
    """GIVEN clock times, a range and numbers that only look like them WHEN tested
    THEN times pass, the others do not."""
    assert all(is_time(t) for t in ["10:30", "9:00:15", "21:45", "9:00-10:30", "10.30.15"])
    assert not any(is_time(t) for t in ["25:61", "3.14", "10:30:99", "1030"])


def test_money_rule_needs_a_currency():
    """GIVEN amounts with and without a currency sign or word WHEN tested
    THEN only those with one are money."""
    assert is_money("1,500.00", before="it cost $")
    assert is_money("250000", before="about $ ")
    assert is_money("1,250", after=" dollars a month")
    assert is_money("300000", after=" pesos")
    assert is_money("12.500,50", before="$")  # as written in Mexico
    assert not is_money("1,500.00")
    assert not is_money("4929381720456613", before="$")  # no amount has 16 digits


def test_page_rule_needs_a_page_label():
    """GIVEN page ranges after "page"/"pp." and the same digits after "call" WHEN tested
    THEN only the labelled ones are page numbers, and no page number has six digits."""
    assert is_page_number("1024-1031", before="read page ")
    assert is_page_number("112-118", before="see pp. ")
    assert not is_page_number("1024-1031", before="call ")
    assert not is_page_number("123456", before="page ")


def test_year_rule():
    """GIVEN years, decades and ranges of them WHEN tested THEN they pass; a range that goes
    backwards or a five-digit number does not."""
    assert all(is_year(t) for t in ["1998", "the 1990s"[4:], "1980s-1990s", "2019-2024", "2023-24"])
    assert not any(is_year(t) for t in ["2024-2019", "20245", "1234", "2019-2300"])


def test_reply_code_rule():
    """GIVEN a valid reply code, one with a wrong check character, and an all-digit one with
    and without a "code" label WHEN tested THEN only valid codes pass, a bare digit group needs
    the label."""
    code = format_code("D34D5" + check_char("D34D5"))
    assert is_reply_code(code)
    wrong = code[:-1] + ("2" if code[-1] != "2" else "3")
    assert not is_reply_code(wrong)
    digits = next(p + check_char(p) for p in (f"{n:05d}" for n in range(23456, 99999))
                  if set(p) <= set("23456789") and check_char(p).isdigit())  # fmt: skip
    assert not is_reply_code(format_code(digits))
    assert is_reply_code(format_code(digits), before="reply code ")


def test_sender_rule_folds_look_alikes():
    """GIVEN the sender's number misread, without its dash, one digit off, and no sender
    WHEN tested THEN look-alikes and dashes do not matter, a different digit does."""
    key = sender_key("Reg. No. " + SENDER)
    assert is_sender_number("482II-O39", key)
    assert is_sender_number("48211039", key)
    assert not is_sender_number("48211-038", key)
    assert not is_sender_number(SENDER, "")


@pytest.mark.parametrize(
    "value",
    [
        "3/14/2024",
        "03/14/2024 - 03/20/2024",
        "10:30:15",
        "9:00-10:30",
        "$1,500.00",
        "$ 250000",
        "1,250,000 dollars",
        "page 1024-1031",
        "pp. 112-118",
        "1980s-1990s",
        "2019-2024",
        "1998. In 2005",
        "on 3/14/2024 10",
        "10:30:00am",
        "$1.500,00 pesos",
    ],
)
def test_safe_numbers_stay_readable(value):
    """GIVEN a date, time, money, page number or years in a letter WHEN searched
    THEN no finder touches it."""
    text = f"It happened {value} and I still think about it."
    assert untouched(text, value), found(text)


def test_the_senders_own_number_and_a_reply_code_stay_readable():
    """GIVEN the sender's number as written, with a label and misread, and the program's reply
    code WHEN searched with the sender's number THEN none of them is touched."""
    code = format_code("D34D5" + check_char("D34D5"))
    text = f"Marcus Hill {SENDER}\nReg. No. 482II-O39\nmy reply code is {code} ok"
    assert found(text, sender_number=SENDER) == []


def test_a_safe_part_does_not_excuse_the_rest_of_a_run():
    """GIVEN a year, a date or the sender's number written next to an unexplained number
    WHEN searched THEN the unexplained number is burned (the sender's number stays)."""
    assert burned("in 201 555 2024 ok", "201 555 2024")
    assert burned("on 3/14/2024 555-0142 ok", "555-0142")
    text = f"me {SENDER} 54321-876 him"
    assert found(text, sender_number=SENDER) == [("inmate_number", "54321-876")]
    run = number_runs("dated 3/14/2024 887412093")[0]
    assert explain_run("dated 3/14/2024 887412093", run) is None


# --- the specific finders' new formats --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("wire it to 3222-7162-7 please", "bank", "3222-7162-7"),
        ("or 0711 0130 7 at the credit union", "bank", "0711 0130 7"),
        ("my tax number 911-701234 ok", "ssn", "911-701234"),
        ("or 91170-1234 ok", "ssn", "91170-1234"),
        ("call 09-7625400 tonight", "phone", "09-7625400"),
        ("call 090-1234-5678 tonight", "phone", "090-1234-5678"),
        ("call +49 30 1234567 tonight", "phone", "+49 30 1234567"),
        ("call +44 (0)20 7946 0321 tonight", "phone", "+44 (0)20 7946 0321"),
    ],
)
def test_formats_the_issue_found_get_their_label(text, kind, value):
    """GIVEN a value in a format the finders used to miss WHEN searched
    THEN exactly it is found, under its specific label."""
    assert found(text) == [(kind, value)]


def test_international_phone_is_not_an_inmate_number():
    """GIVEN "+49 30 1234567" (its last part has a Texas number's shape) WHEN searched
    THEN it is a phone."""
    assert [k for k, _ in found("ruf an: +49 30 1234567")] == ["phone"]


def test_number_glued_to_a_word_is_a_phone():
    """GIVEN "is415-555-0132" WHEN found in words THEN the word is burned under the phone label."""
    words = words_from("my number is415-555-0132 ok")
    (finding,) = find_pii(words)
    assert finding.kind == "phone"
    assert [words[i].text for i in finding.word_indices] == ["is415-555-0132"]


def test_email_split_at_a_dot_keeps_its_first_half():
    """GIVEN "keisha. jacksonO3@gmail.com" (OCR split the address at the dot)
    WHEN found in words THEN "keisha." is in the same finding as the rest."""
    words = words_from("write to keisha. jacksonO3@gmail.com soon")
    (finding,) = find_pii(words)
    assert finding.kind == "email"
    assert [words[i].text for i in finding.word_indices] == ["keisha.", "jacksonO3@gmail.com"]
    assert found("mail keisha .jackson03@gmail.com ok") == [("email", "keisha .jackson03@gmail.com")]
    assert found("it is tina.moss@gmail. com ok") == [("email", "tina.moss@gmail. com")]


def test_email_wrapped_after_its_dot():
    """GIVEN an email broken over two lines after the dot of its local part
    WHEN found in words THEN both halves are one finding with a box on each line."""
    words = words_from("write to keisha.\njackson03@gmail.com soon")
    (finding,) = find_pii(words)
    assert [words[i].text for i in finding.word_indices] == ["keisha.", "jackson03@gmail.com"]
    assert len(finding.boxes) == 2


def test_address_box_covers_the_city_line_even_with_a_misread_state():
    """GIVEN a street line over a "City ST ZIP" line whose state OCR misread
    WHEN found in words THEN one address finding has a box on each line."""
    words = words_from("send it to\n1728 Chestnut Street\nAllentown, Pq 18142\nthanks")
    (finding,) = find_pii(words)
    assert finding.kind == "address"
    assert [words[i].text for i in finding.word_indices] == [
        "1728", "Chestnut", "Street", "Allentown,", "Pq", "18142"
    ]  # fmt: skip
    assert len(finding.boxes) == 2


def test_zip_plus_four_in_an_address_stays_an_address():
    """GIVEN an address ending in a ZIP+4 (the shape of a 5-4 SSN) WHEN searched
    THEN it is one address."""
    assert found("at 12 Oak Street, Fresno, CA 93701-1234 now") == [
        ("address", "12 Oak Street, Fresno, CA 93701-1234")
    ]


def test_wrapped_values_map_to_boxes_on_both_lines():
    """GIVEN an SSN and an account number broken over two lines WHEN found in words
    THEN each finding has its words on both lines and a box per line."""
    words = words_from("my ssn is 887-41-\n2093 and the other\n1002 3847\n5566 12 ok")
    findings = find_pii(words)
    assert [f.kind for f in findings] == ["ssn", NUMBER_KIND]
    assert [words[i].text for i in findings[0].word_indices] == ["887-41-", "2093"]
    assert [words[i].text for i in findings[1].word_indices] == ["1002", "3847", "5566", "12"]
    assert all(len(f.boxes) == 2 for f in findings)


# --- the number kind in both paths -------------------------------------------------------------


def test_number_kind_in_text_and_words_and_specific_label_wins():
    """GIVEN an id no specific finder knows and a phone inside a longer run
    WHEN searched as text and as words THEN the id is a `number`, the phone keeps its label,
    and the reason holds no digit."""
    text = "case 38-CR-215095 and call 738-204-9916"
    assert found(text) == [(NUMBER_KIND, "38-CR-215095"), ("phone", "738-204-9916")]
    findings = find_pii(words_from(text))
    assert [f.kind for f in findings] == [NUMBER_KIND, "phone"]
    assert not any(c.isdigit() for f in findings for c in f.reason)
    assert NUMBER_KIND in ALL_KINDS


def test_canonical_id_still_importable_from_pii():
    """GIVEN code that imports canonical_id from ocr.pii WHEN it folds a misread number
    THEN it gets the digits."""
    assert canonical_id("i2345-67B") == "12345678"
