"""Stories about reading pages with Tesseract: turned pages, languages, failures, recorded readings.

The reading stories replay Tesseract's recorded answers (tests/ocr_replay.py); the tests of the
wrapper itself (a hanging, crashing or refusing program, its environment) run it for real."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from ocr_replay import Recorder
from test_ocr_support import HANDWRITING, draw_page

from ocr import errors, tesseract
from ocr.pipeline import read_page
from ocr.preprocess import rotate_right_angle, rotate_small_angle

SPANISH_LINES = [
    "Querida Lucía, gracias por tu carta del año pasado.",
    "Aquí todo está bien y la comida es mejor que antes.",
    "Espero que tu familia esté muy bien. Un abrazo.",
]


def _words(text: str) -> set[str]:
    return {w.strip(".,").lower() for w in text.split()}


def test_upside_down_and_crooked_page_reads_right() -> None:
    """GIVEN a letter scanned upside down and 2° crooked WHEN read_page runs
    THEN it was turned 180°, straightened, and the words read correctly in reading order."""
    page = rotate_small_angle(rotate_right_angle(draw_page(), 180), 2.0)
    prepared, result = read_page(page)
    assert result.rotation == 180
    assert abs(result.skew + 2.0) < 0.3
    assert {"dear", "maria", "garden", "tomatoes", "sunflowers", "thomas"} <= _words(result.text)
    assert result.text.index("Dear") < result.text.index("Thomas")
    assert result.language == "eng" and not result.needs_transcription
    # Boxes are in the prepared image's coordinates: the first word sits top left.
    first = result.words[0]
    assert first.text == "Dear" and first.y0 < prepared.image.shape[0] / 3


def test_sideways_page_reads_right() -> None:
    """GIVEN a page lying on its side (turned 90° clockwise) WHEN read THEN it is turned back."""
    page = rotate_right_angle(draw_page(), 90)
    _, result = read_page(page)
    assert result.rotation == 270
    assert {"garden", "tomatoes"} <= _words(result.text)


def test_spanish_letter_is_recorded_as_spanish_with_accents() -> None:
    """GIVEN a letter in Spanish WHEN read with languages="auto" (English first)
    THEN it is read again as Spanish: language spa, and the accents survive."""
    _, result = read_page(draw_page(SPANISH_LINES), languages="auto")
    assert result.language == "spa"
    assert {"lucía", "año", "aquí", "está"} <= _words(result.text)
    assert result.confidence > 85


@pytest.mark.real_ocr  # a test of the wrapper: it runs (a stand-in for) Tesseract itself
def test_blank_page_skips_tesseract(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN an empty page WHEN read THEN it comes back blank without Tesseract being run."""
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", "/nonexistent/tesseract")
    prepared, result = read_page(np.full((3300, 2550), 240, np.uint8))
    assert prepared.blank and result.words == [] and not result.needs_transcription


def test_scribble_needs_transcription() -> None:
    """GIVEN a page of random scribbles WHEN read THEN a person is asked to transcribe it."""
    rng = np.random.default_rng(3)
    page = np.full((3300, 2550), 255, np.uint8)
    import cv2

    for row in range(8):
        pts = np.cumsum(rng.integers(-12, 14, size=(120, 2)), axis=0) + [300, 400 + row * 300]
        cv2.polylines(page, [pts.astype(np.int32)], False, 0, 5)
    _, result = read_page(page)
    assert result.needs_transcription


def _fake_tesseract(tmp_path: Path, body: str) -> str:
    script = tmp_path / "tesseract"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.mark.real_ocr  # a test of the wrapper: it runs (a stand-in for) Tesseract itself
def test_hanging_tesseract_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a Tesseract that hangs WHEN a page is read with a 1 s timeout THEN OcrTimeout."""
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", _fake_tesseract(tmp_path, "exec sleep 30"))
    with pytest.raises(errors.OcrTimeout) as caught:
        tesseract.ocr_image(draw_page(), timeout=1)
    assert "1 s" in caught.value.reason


@pytest.mark.real_ocr  # a test of the wrapper: it runs (a stand-in for) Tesseract itself
def test_crashing_tesseract_fails_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a Tesseract that dies of a segfault WHEN a page is read THEN OcrFailed says so."""
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", _fake_tesseract(tmp_path, "kill -SEGV $$"))
    with pytest.raises(errors.OcrFailed) as caught:
        tesseract.ocr_image(draw_page())
    assert "crashed" in caught.value.reason


@pytest.mark.real_ocr  # a test of the wrapper: it runs (a stand-in for) Tesseract itself
def test_tesseract_child_gets_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN any environment WHEN Tesseract is started THEN its OMP_THREAD_LIMIT is 1."""
    monkeypatch.setenv("OMP_THREAD_LIMIT", "8")
    seen = tmp_path / "env.txt"
    # Tesseract is called as `tesseract IMAGE OUTBASE ...` and writes OUTBASE.tsv.
    fake = _fake_tesseract(tmp_path, f'echo "$OMP_THREAD_LIMIT" > {seen}; : > "$2.tsv"')
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", fake)
    tesseract.ocr_image(draw_page())
    assert seen.read_text().strip() == "1"
    assert os.environ["OMP_THREAD_LIMIT"] == "8"  # the child's setting, not ours


@pytest.mark.real_ocr  # a test of the wrapper: it runs (a stand-in for) Tesseract itself
def test_tesseract_refusing_a_page_is_a_repeatable_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a Tesseract that exits 1 with a message WHEN a page is read
    THEN OcrFailed gives the exit code and the message, and says the same image would get the
    same answer (a recording may keep it); a program that is not there is not repeatable."""
    refusing = _fake_tesseract(tmp_path, 'echo "Too few characters. Skipping this page" >&2; exit 1')
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", refusing)
    with pytest.raises(errors.OcrFailed) as caught:
        tesseract.ocr_image(draw_page())
    assert "exit 1" in caught.value.reason and "Too few characters" in caught.value.reason
    assert caught.value.repeatable
    assert tesseract.detect_orientation(draw_page()) == 0  # OSD's refusal: nothing to turn by

    monkeypatch.setattr(tesseract, "TESSERACT_CMD", str(tmp_path / "no-such-tesseract"))
    with pytest.raises(errors.OcrFailed) as missing:
        tesseract.ocr_image(draw_page())
    assert "could not be started" in missing.value.reason and not missing.value.repeatable


def test_upside_down_capitals_are_turned_by_the_reading() -> None:
    """GIVEN a note printed in capitals, centred, fed upside down (the ink alone cannot tell
    which way up it is) WHEN read_page runs THEN the poor first reading is tried again upside
    down, and the better one is kept: rotation 180, the words read right."""
    lines = ["DEAR MARIA,", "THANK YOU FOR THE PHOTO OF THE GARDEN", "THE TOMATOES LOOK GREAT",
             "I THINK ABOUT YOUR LETTERS EVERY DAY", "PLEASE WRITE SOON", "YOUR FRIEND THOMAS"]
    page = draw_page(lines * 2, font=HANDWRITING, size=54, spacing=120, centred=True)
    prepared, result = read_page(rotate_right_angle(page, 180))
    assert prepared.orientation == "unsure"
    assert result.rotation == 180
    assert {"garden", "tomatoes", "thomas"} <= _words(result.text)


def test_a_page_the_ink_turns_the_wrong_way_is_turned_back_by_the_reading(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN an upright typed letter whose ink cues agree, wrongly, that it is upside down (it
    happened to a typed page of short lines: PP-OCR then read the upside-down page into
    nonsense and the letter waited for a transcription) WHEN read_page runs THEN the poor
    reading is checked half a turn round and the upright reading is kept."""
    from ocr import preprocess

    monkeypatch.setattr(preprocess, "estimate_geometry",
                        lambda img, orient=True: preprocess.Geometry(180 if orient else 0, 0.0))
    prepared, result = read_page(draw_page())
    assert prepared.orientation == "ink"
    assert result.rotation == 0 and result.confidence > 85
    assert {"garden", "tomatoes", "thomas"} <= _words(result.text)


@pytest.mark.real_ocr
def test_a_replayed_reading_is_the_live_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a page read live by Tesseract (words and OSD) WHEN the same page is read through
    a recorder over an empty folder (recording), then again with no Tesseract left to run
    (replaying) THEN the replayed reading and orientation are the live ones, field for field."""
    # Three lines on a strip of a page (what is read is the point, not how much).
    page = rotate_right_angle(draw_page(SPANISH_LINES, height=700, top=150), 90)
    live = tesseract.ocr_image(page, languages="auto")
    live_turn = tesseract.detect_orientation(page)
    blank_osd = np.full((600, 800), 255, np.uint8)

    recorder = Recorder(tmp_path / "recordings", "replay")
    recorder.install(monkeypatch)
    recorded = tesseract.ocr_image(page, languages="auto")
    assert tesseract.detect_orientation(page) == live_turn
    assert tesseract.detect_orientation(blank_osd) == 0  # OSD refuses: a repeatable failure
    # Recorded: the English reading, the Spanish one it led to, OSD, and OSD's refusal.
    assert recorder.counts == {"recorded": 4}
    monkeypatch.setattr(tesseract, "TESSERACT_CMD", str(tmp_path / "no-tesseract-here"))
    replayed = tesseract.ocr_image(page, languages="auto")

    assert recorder.counts["replayed"] == 2
    assert tesseract.detect_orientation(page) == live_turn
    assert tesseract.detect_orientation(blank_osd) == 0
    assert recorder.counts == {"recorded": 4, "replayed": 4}
    for reading in (recorded, replayed):
        assert reading.words == live.words
        assert (reading.confidence, reading.language, reading.needs_transcription) == (
            live.confidence, live.language, live.needs_transcription)
    assert live.language == "spa"  # both readings of the auto mode were recorded and replayed
    files = list((tmp_path / "recordings" / "tesseract").glob("*.json.gz"))
    assert len(files) == 4


def test_unit_tests_read_through_the_recorder(ocr_recorder: Recorder) -> None:
    """GIVEN a unit test (no real_ocr mark) WHEN it reads a page THEN it goes through the
    session's recorder: the engine seam is wrapped and the recorder is on for this test."""
    if ocr_recorder.mode == "off":
        pytest.skip("LETTERBRIDGE_OCR_RECORD=off: no recorder in this run")
    assert getattr(tesseract.run_tesseract, "__wrapped__", None) is not None
    assert ocr_recorder.active
