"""Inmate numbers: found per prison system, shown as written (canonical dashes), folded."""

from __future__ import annotations

import pytest

from postal.inmate_numbers import (
    SYSTEM_PATTERNS,
    distance,
    find_numbers,
    fold,
    normalise,
    system_of,
)


@pytest.mark.parametrize(
    ("text", "number", "system"),
    [
        ("John Smith #12345-678", "12345-678", "federal"),
        ("Reg. No. 40321-177", "40321-177", "federal"),
        ("CDCR # AB1234", "AB1234", "ca"),
        ("Dry Creek State Prison C12345", "C12345", "ca"),
        ("IDOC # K40321", "K40321", "il"),
        ("TDCJ # 2231874", "2231874", "tx"),
        ("#01234567", "01234567", "tx"),
        ("DIN 12A3456", "12A3456", "ny"),
        ("DIN# 07-R-1234", "07-R-1234", "ny"),
        ("Inmate No. HX4821", "HX4821", "ca"),  # CA and PA share the shape; CA comes first
    ],
)
def test_each_system_number_is_found_with_its_system(text: str, number: str, system: str) -> None:
    """GIVEN a sender line as prisons write it
    WHEN numbers are looked for
    THEN the number is found as written, with the system its format (or label) suggests."""
    assert find_numbers(text) == [(number, system)]


def test_shared_shapes_follow_the_hints_in_the_text() -> None:
    """GIVEN "AB1234" (CA or PA) and "C12345" (CA or IL) next to a state or a DOC label
    WHEN numbers are looked for
    THEN the hint decides the system."""
    assert find_numbers("HX4821\nSCI Laurel Run\nCoal Township, PA 17866") == [("HX4821", "pa")]
    assert find_numbers("IDOC C12345") == [("C12345", "il")]
    assert find_numbers("C12345 Lancaster, CA 93539") == [("C12345", "ca")]


def test_a_given_system_restricts_the_search() -> None:
    """GIVEN text with a federal number and a Texas-shaped number
    WHEN only Texas numbers are asked for
    THEN the federal one is not returned."""
    text = "12345-678 and 2231874"
    assert find_numbers(text, system="tx") == [("2231874", "tx")]
    assert find_numbers(text) == [("12345-678", "federal"), ("2231874", "tx")]


def test_ocr_look_alikes_are_found_but_not_corrected() -> None:
    """GIVEN numbers where OCR read O for 0, I for 1, S for 5, B for 8, $ for S
    WHEN they are found and folded
    THEN they are returned as written and fold to the true number's key."""
    found = find_numbers("Reg. No. I2345-6O8\nCDCR C1234S\nDIN 12A34S6")
    assert found == [("I2345-6O8", "federal"), ("C1234S", "ca"), ("12A34S6", "ny")]
    assert fold("I2345-6O8") == fold("12345-608")
    assert fold("C1234S") == fold("C12345")
    assert fold("l2345 678") == fold("12345-678")
    assert fold("AB1234") == fold("A81234") == "A81234"
    # A typed S often comes out of Tesseract as "$".
    assert find_numbers("$85718") == [("$85718", "ca")]
    assert fold("$85718") == fold("S85718")


def test_words_addresses_and_zip_codes_are_not_numbers() -> None:
    """GIVEN envelope lines without an inmate number (words made of look-alike letters, a
    PO box, a ZIP and ZIP+4, a street address)
    WHEN numbers are looked for
    THEN nothing is found."""
    for text in [
        "SOLID BOISE",
        "P.O. Box 1000",
        "Oxford, WI 53952",
        "Oxford WI 53952-1234",
        "24900 Highway 202",
        "Dear friend, I hope you are well",
    ]:
        assert find_numbers(text) == [], text


def test_generic_fallback_needs_a_label_or_a_long_number() -> None:
    """GIVEN numbers of systems without a pattern
    WHEN numbers are looked for
    THEN a labelled or long one is found as "generic", a bare short one is not."""
    assert find_numbers("DOC # 654321") == [("654321", "generic")]
    assert find_numbers("ID: A-123456789") == [("A-123456789", "generic")]
    assert find_numbers("call me at 1234") == []


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("12345-678", "12345-678"),
        ("Reg. No. 12345 - 678", "12345-678"),
        ("12-a-3456", "12A3456"),
        ("DIN 12A3456", "12A3456"),
        ("ab-1234", "AB1234"),
        ("#C12345", "C12345"),
        ("TDCJ # 01234567", "01234567"),
        ("I2345-6O8", "I2345-6O8"),  # display never folds look-alikes
    ],
)
def test_normalise_fixes_case_labels_and_dashes_only(written: str, shown: str) -> None:
    """GIVEN a number as written
    WHEN it is normalised for display
    THEN case, labels, spaces and dashes are canonical and nothing else changes."""
    assert normalise(written) == shown


def test_federal_number_gets_its_dash_back_only_when_known_federal() -> None:
    """GIVEN an 8-digit number without a dash
    WHEN normalised with and without the federal system
    THEN it is federal 12345-678 only when the system says so (else it is a Texas number)."""
    assert normalise("12345678", "federal") == "12345-678"
    assert normalise("12345678") == "12345678"
    assert system_of("12345678") == "tx"
    assert system_of("12345-678") == "federal"


def test_patterns_per_system_cover_the_documented_shapes() -> None:
    """GIVEN the documented shape of each system
    WHEN matched against that system's patterns
    THEN each matches."""
    shapes = {
        "federal": "12345-678",
        "ca": "AB1234",
        "pa": "AB1234",
        "il": "A12345",
        "tx": "1234567",
        "ny": "12A3456",
    }
    for system, shape in shapes.items():
        assert any(p.fullmatch(shape) for p in SYSTEM_PATTERNS[system]), system
    assert any(p.fullmatch("C12345") for p in SYSTEM_PATTERNS["ca"])
    assert any(p.fullmatch("12-A-3456") for p in SYSTEM_PATTERNS["ny"])
    assert any(p.fullmatch("12345678") for p in SYSTEM_PATTERNS["tx"])


def test_distance_is_measured_on_folded_keys() -> None:
    """GIVEN two numbers that differ only by look-alikes, and two one digit apart
    WHEN their distance is measured
    THEN look-alikes cost nothing and a real difference costs one."""
    assert distance("12345-678", "I2345 6T8".replace("T", "7")) == 0
    assert distance("12345-678", "12345-679") == 1
    assert distance("12345-678", "99999-999", limit=3) == 4


@pytest.mark.parametrize("text", ["call +49 30 1234567", "Tel. 090-1234-5678", "+52 55 1234 5678"])
def test_parts_of_phone_numbers_are_not_inmate_numbers(text: str) -> None:
    """GIVEN international and trunk-0 phone numbers (their tails have a Texas or generic shape)
    WHEN numbers are looked for
    THEN none is found: a number that carries on past the candidate is no inmate number."""
    assert find_numbers(text) == []


def test_a_number_beside_a_phone_is_still_found() -> None:
    """GIVEN an inmate number and, after a space, a phone number
    WHEN numbers are looked for
    THEN the inmate number is found."""
    assert find_numbers("TDCJ 2231874 call 312-555-0142") == [("2231874", "tx")]
