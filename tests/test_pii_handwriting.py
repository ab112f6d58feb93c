"""The finders on handwriting as PP-OCR reads it: digits read as letters no look-alike list holds,
digits in other scripts, watch-list words with a letter misread. Words are fed directly (no OCR)."""

from __future__ import annotations

import numpy as np
import pytest
from test_pii import covered, found, words_from  # the same page layout

from letters.redaction import READING_PROBLEM, PiiContext, check_reading
from ocr.numbers import mixed_identifiers, number_runs
from ocr.pii import find_pii, sender_key

WATCH = ["Lakeshore Clinic", "Maplewood Elementary"]


# --- a stray character inside a number -------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("check the card number 6011 C096 2829 4386 still works", "6011 C096 2829 4386"),
        ("you can call my aunt at 555 U142 if you want", "555 U142"),
        ("my SSN is 987 65 C321 if they ask", "987 65 C321"),
    ],
)
def test_a_number_with_one_unreadable_digit_is_burned_whole(line, value):
    """GIVEN a number PP-OCR read with one digit as a letter that is no look-alike of it
    ("C" for 0, "U" for 0), which used to cut it into pieces too short for the catch-all
    WHEN the words are searched THEN every word of the number is in a finding."""
    words = words_from(line)
    assert covered(words, find_pii(words)) == value


def test_the_stray_joins_the_groups_into_one_run():
    """GIVEN a card number with a "C" for a 0 in its second group WHEN its runs are listed
    THEN it is one run of sixteen digits, of which fifteen were read as digits."""
    (run,) = number_runs("6011 C096 2829 4386")
    assert len(run.digits) == 16 and run.real_digits == 15


@pytest.mark.parametrize(
    "text",
    [
        "on 3/14/2024 at 10am I ran the 1500m in 5:12",
        "the 100th day of 2024, 12 of us",
        "COVID19 and B12 shots, room 4C(5)",
        "see you on the 21st 2024",
        "page 12 of 30, call at 9:30pm",
    ],
)
def test_ordinals_units_and_short_codes_stay_words(text):
    """GIVEN dates, times, ordinals, units and short codes with letters glued to digits
    WHEN searched THEN nothing is found: a stray counts only inside a part that is plainly a
    number (three real digits or more, no letter beside it)."""
    assert found(text) == []


def test_a_prefix_of_letters_is_not_a_misread_digit():
    """GIVEN two prisoners' numbers with a two-letter prefix, the first the sender's own
    WHEN searched with the sender's number THEN only the other one is found, as an inmate number
    (its letters were not taken for digits, which would have made it look like a reply code)."""
    assert found("Joe AB1234 and Tim CD5678", sender_number="AB1234") == [
        ("inmate_number", "CD5678")
    ]


def test_a_stray_beside_a_letter_a_last_letter_or_few_digits_is_a_letter():
    """GIVEN a number written with two strays side by side, a unit after digits, and a stray
    in a part with only two real digits WHEN the runs are listed
    THEN none of those letters joins digits into a longer run."""
    assert [r.digits for r in number_runs("12XY3456")] == ["12", "3456"]
    assert [r.digits for r in number_runs("1500m")] == ["1500"]
    assert [r.digits for r in number_runs("1U2")] == ["1", "2"]


# --- identifiers read with letters for digits -------------------------------------------------


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("MY BUNKIE ZZA8L84? SAYS HI", "ZZA8L84?"),  # 22A8684: 2→Z, 6→L
        ("HIS NUMBER IS ISAO73O? TELL HIM", "ISAO73O?"),  # 15A0730: 1→I, 5→S, 0→O
        ("write to A3H082 for me", "A3H082"),  # A34082: 4→H
    ],
)
def test_a_word_mixing_letters_and_digits_like_an_identifier_is_burned(line, value):
    """GIVEN another prisoner's number read with several digits as letters, too few digits left
    for any number pattern WHEN the words are searched THEN the word is burned."""
    words = words_from(line)
    assert covered(words, find_pii(words)) == value


@pytest.mark.parametrize(
    "text",
    [
        "l0ok1ng forward to the 100th day",  # lower-case letters: a misread word
        "back in the 1990s we ran 1500m",  # one change from digits to letters
        "the A320neo and COVID19 shots",  # three letters that are no look-alike; few digits
        "G00D15 is what he wrote",  # only 0, 1 and 5: a word read with digits
    ],
)
def test_words_that_only_look_mixed_stay(text):
    """GIVEN ordinals, decades, units, model names and words read with 0/1/5 for O/I/S
    WHEN searched THEN the identifier rule takes none of them."""
    assert mixed_identifiers(text) == []


def test_the_senders_own_number_misread_stays():
    """GIVEN the sender's own number read with letters for digits WHEN searched with it
    THEN it stays readable (the pen pal replies to it)."""
    assert mixed_identifiers("from ZZA8684 with love", sender=sender_key("22A8684")) == []
    assert mixed_identifiers("Joe Smith DIN16B0963", sender=sender_key("16B0963")) == []


# --- digits in other scripts -------------------------------------------------------------------


def test_circled_digits_are_digits():
    """GIVEN a card number PP-OCR read with circled fives ("⑤555 ⑤51 ⑤32", one hand draws its
    fives in a ring) WHEN the words are searched THEN all of it is burned."""
    words = words_from("if the card number ⑤555 ⑤51 ⑤32 still works")
    assert covered(words, find_pii(words)) == "⑤555 ⑤51 ⑤32"


def test_full_width_digits_are_digits_and_their_dates_stay():
    """GIVEN a phone number and a date written in full-width digits
    WHEN searched THEN the phone is found as a phone and the date is left alone."""
    text = "call ３１２-５５５-０１４２ before ３/１４/２０２４"
    assert found(text) == [("phone", "３１２-５５５-０１４２")]


# --- watch-list words with a letter misread ----------------------------------------------------


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("MY SISTER WORKS AT LAKESMORE CLINIC, DOWNTOWN", "LAKESMORE CLINIC,"),
        ("my kid goes to Maplewood Elementavy, he likes it", "Maplewood Elementavy,"),
    ],
)
def test_a_watch_term_with_one_letter_misread_is_found(line, value):
    """GIVEN a watch term in a hand whose H reads as M, or r as v
    WHEN searched with the watch list THEN the term is found, both its words."""
    words = words_from(line)
    findings = find_pii(words, watch_terms=WATCH)
    assert [f.kind for f in findings] == ["watch_term"]
    assert covered(words, findings) == value


@pytest.mark.parametrize(
    "text",
    [
        "we went to Lakeside Clinic",  # two letters off
        "the Maplewood Elementaries",  # a longer word, not a misread
        "Lakeshore Clinics are many",
    ],
)
def test_words_two_letters_off_or_longer_are_not_the_watch_term(text):
    """GIVEN words near a watch term but not one misread letter of it
    WHEN searched THEN nothing is found."""
    assert found(text, watch_terms=WATCH) == []


def test_a_short_watch_word_must_be_read_exactly():
    """GIVEN a watch term with a short word, read with that word one letter off
    WHEN searched THEN it is not found (one letter of four is too much to guess)."""
    assert found("at Oak Hill Farm today", watch_terms=["Oak Mill Farm"]) == []
    assert found("at Oak Mill Farm today", watch_terms=["Oak Mill Farm"]) == [
        ("watch_term", "Oak Mill Farm")
    ]


# --- addresses and emails as PP-OCR reads them ---------------------------------------------------


def test_a_street_line_whose_unit_lost_its_hash_keeps_its_city_line():
    """GIVEN a two-line address whose "#35" was read as "35" and whose "TX 79470" as "T79470"
    WHEN the words are searched THEN both lines are burned, the unit number and city with them."""
    words = words_from("the address for my brother:\n8786 Highland Place 35\nLubbock, T79470\n"
                       "\nSincerely,")
    assert covered(words, find_pii(words)) == "8786 Highland Place 35 Lubbock, T79470"


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("SEND THEM TO BARBARAWARD@MAILEXAMPLECOM AND", "BARBARAWARD@MAILEXAMPLECOM"),
        ("write to bparker4@mail. example. com if you", "bparker4@mail. example. com"),
    ],
)
def test_an_email_whose_dots_were_lost_or_spaced_is_burned_whole(line, value):
    """GIVEN an email read without its dots, and one read with a space after each dot
    WHEN the words are searched THEN all of it is burned as an email."""
    words = words_from(line)
    findings = find_pii(words)
    assert [f.kind for f in findings] == ["email"]
    assert covered(words, findings) == value


def test_an_at_sign_with_a_space_after_it_is_left_to_verification():
    """GIVEN "@" used as a word ("meet @ 5") and a sentence after an email
    WHEN searched THEN only the email is found, without the next sentence."""
    text = "meet me @ 5 or email joe@mail.com. Then we talk"
    assert found(text) == [("email", "joe@mail.com")]


# --- the first reading is checked like a re-read -------------------------------------------------


def test_the_first_reading_fails_closed_on_what_no_box_burned():
    """GIVEN a page whose reading holds a word mixing letters and digits that no finder names
    and that no box covers (the re-read sees only the bands around boxes, or nothing at all)
    WHEN its reading is checked THEN the check fails and says it was read under no box; the
    same word under a burned box, or ordinary words, pass."""
    white = np.full((400, 1600), 255, np.uint8)
    words = words_from("my friend K7QX9 says hi")
    result = check_reading(words, white, PiiContext())
    assert not result.passed
    assert result.problems == [READING_PROBLEM + "1 word(s) mixing letters and digits still readable"]
    burned = white.copy()
    x0, y0, x1, y1 = words[2].box
    burned[y0:y1, x0:x1] = 0
    assert check_reading(words, burned, PiiContext()).passed
    assert check_reading(words_from("my friend says hi"), white, PiiContext()).passed


def test_a_date_whose_comma_was_read_as_a_dot_passes_the_check():
    """GIVEN a letter's date line "JUNE 25. 2024" (PP-OCR read the comma as a dot) and no box
    WHEN its reading is checked THEN it passes; "555 0138" in the same place does not."""
    white = np.full((400, 1600), 255, np.uint8)
    assert check_reading(words_from("JUNE 25. 2024"), white, PiiContext()).passed
    assert not check_reading(words_from("call 555 0138."), white, PiiContext()).passed
