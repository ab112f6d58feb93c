"""The sample-mail generator: letters, rosters, scanner runs and bad files other tests use."""

from __future__ import annotations

import csv
import json
import re
import struct
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from letterbridge.samples import (
    DETAIL_KINDS,
    SYSTEMS,
    aba_valid,
    luhn_valid,
    make_bad_inputs,
    make_demo_set,
    make_letter,
    make_roster,
    make_scanner_run,
    make_stranger,
    write_letter,
    write_run,
)
from letterbridge.samples.run import truth_path

NUMBER_FORMATS = {
    "federal": r"\d{5}-\d{3}",
    "ca": r"[A-Z]{2}\d{4}|[A-Z]\d{5}",
    "il": r"[A-Z]\d{5}",
    "tx": r"\d{7,8}",
    "ny": r"\d{2}[A-Z]\d{4}",
    "pa": r"[A-Z]{2}\d{4}",
}


@pytest.fixture(scope="module")
def roster():
    return make_roster(12, seed=0)


@pytest.fixture(scope="module")
def typed(roster):
    return make_letter(roster.inmates[0], seed=1, n_pages=3, others=roster.inmates)


@pytest.fixture(scope="module")
def handwritten(roster):
    return make_letter(
        roster.inmates[4],
        seed=2,
        n_pages=2,
        style="handwriting",
        language="spa",
        degrade="hard",
        code="K7PX3M",
    )


def test_same_seed_gives_the_same_letter(roster, typed):
    """GIVEN a sender and a seed
    WHEN the letter is made twice, and once more with another seed
    THEN the first two are identical to the pixel and the third is not."""
    again = make_letter(roster.inmates[0], seed=1, n_pages=3, others=roster.inmates)
    assert again.ground_truth() == typed.ground_truth()
    assert all(np.array_equal(a, b) for a, b in zip(again.pages, typed.pages, strict=True))
    other = make_letter(roster.inmates[0], seed=2, n_pages=3, others=roster.inmates)
    assert other.page_texts != typed.page_texts
    assert not np.array_equal(other.pages[1], typed.pages[1])


@pytest.mark.parametrize("which", ["typed", "handwritten"])
def test_ground_truth_matches_the_pages(which, request):
    """GIVEN a typed English letter and a handwritten Spanish one on hard paper
    WHEN we read their ground truth
    THEN there is an envelope and the asked-for pages at the right sizes, every planted value is
    printed on its page inside its box, and the values are the fake kinds we promise."""
    letter = request.getfixturevalue(which)
    n_letter_pages = 3 if which == "typed" else 2
    assert (
        len(letter.pages) == len(letter.clean_pages) == len(letter.page_texts) == 1 + n_letter_pages
    )
    assert letter.pages[0].shape == (1238, 2850)
    assert all(p.shape == (3300, 2550) and p.dtype == np.uint8 for p in letter.pages[1:])
    assert len(letter.transforms) == len(letter.pages)

    envelope = letter.page_texts[0]
    assert "Letterbridge Pen Pal Program" in envelope and "Springfield, IL 62701" in envelope
    printed = re.sub(r"[^A-Z0-9]", "", letter.envelope["printed_number"].upper())
    assert letter.sender.inmate_number.replace("-", "") in printed
    assert letter.sender.facility in envelope

    assert len(letter.details) >= 3
    assert {d.page for d in letter.details} <= set(range(2, len(letter.pages) + 1))
    for d in letter.details:
        assert d.kind in DETAIL_KINDS
        assert d.value in letter.page_texts[d.page - 1], d
        h, w = letter.clean_pages[d.page - 1].shape
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert letter.clean_pages[d.page - 1][y0:y1, x0:x1].min() < 128, "no ink in the box"
        if d.kind == "phone":
            assert re.search(r"555[-. ]01\d\d$", d.value)
        if d.kind == "email":
            assert re.search(r"@(mail\.)?example\.(com|net)$", d.value)
        if d.kind == "ssn":
            assert d.value.startswith("9") or d.value == "123-45-6789"
        if d.kind == "card":
            assert luhn_valid(d.value)
    banks = [d.value for d in letter.details if d.kind == "bank"]
    if banks:
        assert aba_valid(banks[0])
    truth = json.loads(json.dumps(letter.ground_truth()))
    assert truth["sender"]["inmate_number"] == letter.sender.inmate_number
    assert len(truth["details"]) == len(letter.details)


def test_the_code_is_on_the_envelope(handwritten):
    """GIVEN a letter made with a reply code
    WHEN we look at the envelope
    THEN "Ref: <code>" is printed there and its box is known."""
    assert "Ref: K7PX3M" in handwritten.page_texts[0]
    x0, y0, x1, y1 = handwritten.envelope["code_box"]
    assert handwritten.clean_pages[0][y0:y1, x0:x1].min() < 128


def test_scanned_boxes_follow_the_skew(typed):
    """GIVEN a scanned (skewed) letter
    WHEN a detail's clean box is carried onto the scanned page
    THEN the scanned page has the ink there."""
    for d in typed.details:
        x0, y0, x1, y1 = typed.scanned_box(d)
        crop = typed.pages[d.page - 1][y0:y1, x0:x1]
        assert crop.size and crop.min() < 120


def test_typed_pages_read_well_with_tesseract(tmp_path, roster):
    """GIVEN a typed one-page letter, scanned with a few degrees of skew
    WHEN real Tesseract reads the letter page as it is (no deskew)
    THEN nearly all words come back and a planted phone number is read exactly."""
    letter = make_letter(roster.inmates[3], seed=11, n_pages=1)
    page = tmp_path / "page.png"
    Image.fromarray(letter.pages[1]).save(page)
    out = subprocess.run(
        ["tesseract", str(page), "-"], capture_output=True, text=True, check=True
    ).stdout
    truth, read = Counter(letter.page_texts[1].split()), Counter(out.split())
    assert sum((truth & read).values()) / sum(truth.values()) > 0.9
    phones = [d.value for d in letter.details if d.kind == "phone"]
    assert any(p in out for p in phones)


def test_roster_covers_every_system_and_writes_the_documented_csvs(tmp_path, roster):
    """GIVEN a 12-person roster
    WHEN its CSVs are written
    THEN all six systems appear with their number formats, the headers are ARCHITECTURE.md's,
    volunteers are on example.org and every match points at a real inmate and volunteer."""
    assert {p.system for p in roster.inmates} == set(SYSTEMS)
    for p in roster.inmates:
        assert re.fullmatch(NUMBER_FORMATS[p.system], p.inmate_number), p
    paths = roster.write_csvs(tmp_path)
    headers = {name: next(csv.reader(path.open())) for name, path in paths.items()}
    assert headers == {
        "facilities": ["name", "address_line", "city", "state", "zip", "system"],
        "inmates": ["inmate_number", "name", "facility"],
        "volunteers": ["email", "display_name"],
        "matches": ["inmate_number", "volunteer_email"],
    }
    numbers = {p.inmate_number for p in roster.inmates}
    emails = {v["email"] for v in roster.volunteers}
    assert len(numbers) == 12 and all(e.endswith("@example.org") for e in emails)
    assert all(n in numbers and e in emails for n, e in roster.matches)
    assert {p.facility for p in roster.inmates} <= {f["name"] for f in roster.facilities}
    assert len(roster.unmatched()) == 1


def test_near_duplicate_roster_has_twins_one_character_apart():
    """GIVEN a 300-person roster with near duplicates
    WHEN we compare each listed pair
    THEN there are about a hundred pairs, each two equally long numbers one character apart."""
    big = make_roster(300, seed=3, near_duplicates=True)
    assert len({p.inmate_number for p in big.inmates}) == 300
    assert len(big.near_duplicate_pairs) >= 80
    for a, b in big.near_duplicate_pairs:
        assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    stranger = make_stranger(big, seed=1)
    assert big.person(stranger.inmate_number) is None


def test_letter_files_in_every_format(tmp_path, roster):
    """GIVEN a two-page letter
    WHEN it is written as PDF, TIFF and PNG
    THEN the PDF has three pages at envelope and US Letter sizes, the TIFF three frames, the PNG
    one file per page, and each has its truth file beside it."""
    letter = make_letter(roster.inmates[1], seed=5, n_pages=2, pii=False, degrade="none")
    pdf = write_letter(letter, tmp_path / "a.pdf")
    reader = PdfReader(pdf)
    sizes = [
        (round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages
    ]
    assert sizes == [(684, 297), (612, 792), (612, 792)]
    truth = json.loads(truth_path(pdf).read_text())
    assert truth["file"] == "a.pdf" and truth["details"] == []

    tiff = write_letter(letter, tmp_path / "b.tiff", fmt="tiff")
    assert Image.open(tiff).n_frames == 3
    first = write_letter(letter, tmp_path / "c.png", fmt="png")
    assert first.name == "c-1.png"
    assert sorted(p.name for p in tmp_path.glob("c-*.png")) == ["c-1.png", "c-2.png", "c-3.png"]
    assert json.loads((tmp_path / "c.png.truth.json").read_text())["files"][2] == "c-3.png"


def test_scanner_run_indices(tmp_path, roster):
    """GIVEN three letters in a duplex run with separators, and the same without separators
    WHEN the runs are made
    THEN each letter's indices point at exactly its own pages, in order, with a separator and a
    blank back in between where asked."""
    letters = [
        make_letter(p, seed=9, n_pages=1 + i % 2, pii=False, degrade="none")
        for i, p in enumerate(roster.inmates[:3])
    ]
    pages, indices = make_scanner_run(letters, duplex_blanks=True)
    # separator + back, then (page + back) per letter page
    assert indices == [[3, 5], [9, 11, 13], [17, 19]]
    assert len(pages) == 20
    for letter, idx in zip(letters, indices, strict=True):
        assert all(np.array_equal(pages[i - 1], p) for i, p in zip(idx, letter.pages, strict=True))
    backs = [pages[i] for i in range(1, len(pages), 2)]
    assert all(b.mean() > 200 and b.min() > 150 for b in backs)

    plain, plain_idx = make_scanner_run(letters, separators=False)
    assert plain_idx == [[1, 2], [3, 4, 5], [6, 7]] and len(plain) == 7
    run = write_run(plain, tmp_path / "run.pdf")
    assert len(PdfReader(run).pages) == 7


def test_bad_inputs_are_written(tmp_path, monkeypatch):
    """GIVEN an empty folder
    WHEN the bad inputs are made
    THEN each file exists and is bad in the way its expected error code says."""
    expected = make_bad_inputs(tmp_path)
    assert expected == {
        "empty.pdf": "empty_file",
        "truncated.pdf": "corrupt_file",
        "encrypted.pdf": "encrypted_pdf",
        "huge.png": "image_too_large",
        "notapdf.pdf": "unsupported_format",
    }
    assert (tmp_path / "empty.pdf").stat().st_size == 0
    truncated = (tmp_path / "truncated.pdf").read_bytes()
    assert truncated.startswith(b"%PDF") and b"%%EOF" not in truncated
    assert PdfReader(tmp_path / "encrypted.pdf").is_encrypted
    huge = (tmp_path / "huge.png").read_bytes()
    assert len(huge) < 2_000_000
    assert huge[:8] == b"\x89PNG\r\n\x1a\n" and huge[12:16] == b"IHDR"
    assert struct.unpack(">II", huge[16:24]) == (20000, 20000)
    # ocr.raster widens Pillow's process-wide limit (it checks sizes itself); use Pillow's own.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)
    with pytest.raises(Image.DecompressionBombError):  # what Pillow alone makes of it
        Image.open(tmp_path / "huge.png")
    assert not (tmp_path / "notapdf.pdf").read_bytes().startswith(b"%PDF")


def test_demo_set(tmp_path):
    """GIVEN the demo recipe with three letters
    WHEN it is generated
    THEN there are roster CSVs, three letter PDFs with truth kept apart, both styles, one Spanish
    letter, and the last sender is not on the roster."""
    result = make_demo_set(tmp_path, n_letters=3, seed=7)
    manifest = json.loads(Path(result["manifest"]).read_text())["letters"]
    assert [Path(p).name for p in result["letters"]] == [
        "letter-01.pdf",
        "letter-02.pdf",
        "letter-03.pdf",
    ]
    assert sorted(p.name for p in (tmp_path / "letters").iterdir()) == [
        "letter-01.pdf",
        "letter-02.pdf",
        "letter-03.pdf",
    ]
    assert all(Path(p).exists() for p in result["truth"])
    assert {m["style"] for m in manifest} == {"typed", "handwriting"}
    assert [m["language"] for m in manifest].count("spa") == 1
    assert [m["on_roster"] for m in manifest] == [True, True, False]
    assert manifest[-1]["expected_volunteer"] is None and manifest[0]["expected_volunteer"]
    assert set(result["roster"]) == {"facilities", "inmates", "volunteers", "matches"}


def test_cli_generates_samples(tmp_path):
    """GIVEN the letterbridge command
    WHEN `samples generate` runs for one letter
    THEN it writes the roster, the letter and its truth, and says where."""
    from typer.testing import CliRunner

    from letterbridge.cli import app

    result = CliRunner().invoke(
        app,
        [
            "samples",
            "generate",
            "--out",
            str(tmp_path),
            "--letters",
            "1",
            "--seed",
            "3",
            "--handwriting-share",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "letters" / "letter-01.pdf").exists()
    assert (tmp_path / "truth" / "letter-01.pdf.truth.json").exists()
    assert (tmp_path / "roster" / "inmates.csv").exists()
    assert "letter-01.pdf" in result.output
