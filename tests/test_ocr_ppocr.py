"""Stories about the second OCR engine (PP-OCR) and the rule that picks which engine reads a page."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw
from rapidfuzz.distance import Levenshtein

from letterbridge.samples import fonts
from ocr import engines, ppocr
from ocr.engines import EngineRule, read_with
from ocr.envelope import read_envelope, read_envelope_again
from ocr.errors import OcrTimeout
from ocr.pipeline import read_page
from ocr.preprocess import for_ocr
from ocr.types import OcrPage

LINES = [
    "Dear Rosa, the garden is blooming again",
    "Call my sister at 555 0134 on Sunday",
    "Your friend always, Thomas",
]


def drawn_page(face: str, lines: list[str] = LINES, *, size: int = 60, height: int = 1100
               ) -> tuple[np.ndarray, list[list[tuple[str, tuple[int, int, int, int]]]]]:
    """A page strip at 300 DPI with `lines` written in a sample face; each word's drawn box."""
    im = Image.new("L", (2550, height), 255)
    draw = ImageDraw.Draw(im)
    font = fonts.font(face, size)
    boxes = []
    for i, line in enumerate(lines):
        x, y = 250.0, 250 + i * 170
        row = []
        for word in line.split():
            draw.text((x, y), word, font=font, fill=20, anchor="ls")
            row.append((word, tuple(int(v) for v in draw.textbbox((x, y), word, font=font, anchor="ls"))))
            x += font.getlength(word) + font.getlength(" ") * 1.3
        boxes.append(row)
    return np.asarray(im).copy(), boxes


def _covered(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> float:
    """Share of `inner`'s area inside `outer`."""
    x0, y0 = max(outer[0], inner[0]), max(outer[1], inner[1])
    x1, y1 = min(outer[2], inner[2]), min(outer[3], inner[3])
    area = max(1, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return max(0, x1 - x0) * max(0, y1 - y0) / area


@pytest.mark.real_ocr  # a test of the wrapper: it runs PP-OCR itself
@pytest.mark.parametrize("face", ["comic-neue", "dkg", "liberation-sans"])
def test_words_come_out_with_boxes_on_their_ink(face: str) -> None:
    """GIVEN a page written in a handwriting (or typed) face, each word's place known
    WHEN PP-OCR reads it
    THEN every word drawn is read (a letter wrong at most in the cursive hand), on its own
    line, in order; each word's box covers the ink where that word was drawn and little
    else; confidences are on 0..100."""
    img, drawn = drawn_page(face)
    page = ppocr.ocr_image(img)
    assert page.engine == "ppocr" and page.width == img.shape[1]
    assert Levenshtein.distance(page.text, "\n".join(LINES)) <= (1 if face == "dkg" else 0)
    by_line: dict[tuple[int, int, int], list] = {}
    for w in page.words:
        by_line.setdefault(w.line_key, []).append(w)
    assert len(by_line) == len(LINES)
    ink = img < 128
    for row, read in zip(drawn, by_line.values(), strict=True):
        assert len(read) == len(row)
        for (word, box), got in zip(row, read, strict=True):
            assert 0 <= got.conf <= 100
            # the ink of the drawn word lies inside the read box ...
            x0, y0, x1, y1 = box
            word_ink = int(ink[y0:y1, x0:x1].sum())
            inside = int(ink[max(y0, got.y0):min(y1, got.y1), max(x0, got.x0):min(x1, got.x1)].sum())
            assert inside >= 0.97 * word_ink, (word, box, got.box)
            # ... and the box is the word's: at most a sliver of it lies outside the drawn word.
            assert _covered(box, got.box) > 0.8, (word, box, got.box)
    assert 90 <= page.confidence <= 100


@pytest.mark.real_ocr  # a test of the wrapper: it runs PP-OCR itself
def test_bands_read_again_are_detected_at_their_pages_scale(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """GIVEN a short stack of bands cut from a 3300-pixel page (what a verification reads
    again) WHEN PP-OCR reads it as cut from that page THEN its lines are found at the scale the
    whole page's were (the detector's input no taller than the bands at that scale), not
    enlarged to 736 pixels as the detector does by itself; AND the words are still read."""
    bands, _drawn = drawn_page("comic-neue", height=720)
    shapes: list[tuple[int, ...]] = []
    run = ppocr._run

    def recording(eng, session, feeds, deadline):
        shapes.append(next(iter(feeds.values())).shape)
        return run(eng, session, feeds, deadline)

    monkeypatch.setattr(ppocr, "_run", recording)
    as_cut = ppocr.ocr_image(bands, page_long_side=3300)
    detected = shapes[0]
    shapes.clear()
    ppocr.ocr_image(bands)
    alone = shapes[0]
    scale = ppocr.DET_MAX_SIDE / 3300
    assert detected[2] <= round(720 * scale / 32) * 32 < 736
    assert alone[2] >= 736  # what the detector does with a short image of its own accord
    read = " ".join(w.text for w in as_cut.words).lower()
    assert "garden" in read and "thomas" in read


@pytest.mark.real_ocr  # a test of the wrapper: it runs PP-OCR itself
def test_same_image_same_answer() -> None:
    """GIVEN one image read twice WHEN run_ppocr answers THEN the raw answers are equal (so a
    test recorder may key an answer by the image and replay it), and it is the engine's raw
    output: every detected line with its characters' probabilities and positions."""
    img, _ = drawn_page("comic-neue", LINES[:1], height=500)
    first = ppocr.run_ppocr(img, timeout=60)
    assert ppocr.run_ppocr(img, timeout=60) == first
    lines = json.loads(first)["lines"]
    assert [ln["text"] for ln in lines] == LINES[:1]
    assert all(0 < p <= 1 and x >= 0 for _c, p, x in lines[0]["chars"])


@pytest.mark.real_ocr  # a test of the wrapper: it runs PP-OCR itself
def test_two_threads_share_one_engine() -> None:
    """GIVEN two OCR threads in one worker WHEN both read at the same time
    THEN they read what one thread reads alone, with the process's one engine."""
    pages = [drawn_page("comic-neue", [line], height=450)[0] for line in LINES[:2]]
    alone = [ppocr.ocr_image(p).text for p in pages]
    results: dict[int, str] = {}

    def read(i: int) -> None:
        results[i] = ppocr.ocr_image(pages[i]).text

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[0], results[1]] == alone == LINES[:2]
    assert ppocr.engine() is ppocr.engine()


@pytest.mark.real_ocr  # a test of the wrapper: it runs PP-OCR itself
def test_a_page_past_its_timeout_is_stopped() -> None:
    """GIVEN a full page and a timeout far shorter than its reading WHEN PP-OCR reads it
    THEN OcrTimeout comes soon after the timeout: the run is stopped inside onnxruntime."""
    ppocr.engine()  # loaded: the time is the page's alone
    img = np.full((3300, 2550), 255, np.uint8)
    img[200:3100:90, 200:2300] = 0  # many lines to find
    started = time.monotonic()
    with pytest.raises(OcrTimeout):
        ppocr.run_ppocr(img, timeout=0.3)
    assert time.monotonic() - started < 3.0


@pytest.mark.real_ocr  # a test of the wrapper: it runs PP-OCR itself
def test_no_download_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN no network at all WHEN a fresh engine is built THEN it loads the models inside the
    wheel and reads (nothing is fetched)."""

    def no_network(*_args: object, **_kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(ppocr, "_ENGINE", None)
    img, _ = drawn_page("liberation-sans", LINES[:1], height=450)
    assert ppocr.ocr_image(img).text == LINES[0]


@pytest.mark.real_ocr  # a test of the wrapper: it runs PP-OCR itself
def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN rapidocr is not installed WHEN a page asks for PP-OCR THEN PpocrMissing says how to
    install it or switch it off (no ImportError traceback); a Tesseract-only rule still reads."""
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # import rapidocr -> ImportError
    monkeypatch.setattr(ppocr, "_ENGINE", None)
    assert not ppocr.available()
    img, _ = drawn_page("dkg", LINES[:2], height=600)
    with pytest.raises(ppocr.PpocrMissing) as err:
        read_page(img, rule=EngineRule(below_confidence=101))
    assert "pip install rapidocr onnxruntime" in err.value.reason
    assert "LETTERBRIDGE_OCR_SECOND_ENGINE=false" in err.value.reason
    _, page = read_page(img, rule=EngineRule.tesseract_only())
    assert page.engine == "tesseract"


def test_old_readings_were_tesseracts() -> None:
    """GIVEN an OcrPage stored before there were two engines (no "engine" key) WHEN loaded
    THEN it says Tesseract read it; a PP-OCR reading keeps its engine through JSON."""
    old = json.loads(OcrPage(width=10, height=10).to_json())
    del old["engine"]
    assert OcrPage.from_json(json.dumps(old)).engine == "tesseract"
    assert OcrPage.from_json(OcrPage(engine="ppocr").to_json()).engine == "ppocr"


def test_rule_sends_handwriting_to_ppocr_and_keeps_typed_with_tesseract() -> None:
    """GIVEN a typed page and a page in a cursive hand Tesseract reads badly
    WHEN read_page reads both with the default rule
    THEN the typed page stays Tesseract's (PP-OCR never runs on it), the cursive page is
    PP-OCR's and reads (nearly) right; with the second engine off Tesseract reads both, the
    cursive one far worse."""
    typed, _ = drawn_page("liberation-serif", size=50)
    cursive, _ = drawn_page("dkg")
    _, page = read_page(typed)
    assert page.engine == "tesseract" and "ppocr" not in page.timings
    _, page = read_page(cursive)
    assert page.engine == "ppocr" and "tesseract" in page.timings and "ppocr" in page.timings
    truth = "\n".join(LINES)
    errors = Levenshtein.distance(page.text, truth)
    assert errors <= 2
    _, page = read_page(cursive, rule=EngineRule(second_engine=False))
    assert page.engine == "tesseract" and Levenshtein.distance(page.text, truth) > 3 * errors + 5


def test_an_envelope_is_read_by_tesseract_and_again_by_ppocr_from_its_clean_image() -> None:
    """GIVEN an envelope-shaped page with a typed sender block
    WHEN read_envelope reads it, and read_envelope_again reads its clean image later
    THEN Tesseract read it first (whether PP-OCR reads it too is routing's question), and PP-OCR
    reads the very pixels it would have read in the OCR step, keeping the page's turn."""
    img, _ = drawn_page("liberation-sans", ["Mary Lee", "Reg. No. 72541-055", "FCI Pine Hollow"],
                        size=50, height=1238)
    env = np.full((1238, 2850), 255, np.uint8)
    env[:, :2550] = img
    prepared, first = read_envelope(env)
    assert first.engine == "tesseract" and "ppocr" not in first.timings
    assert np.array_equal(for_ocr(prepared.image), prepared.ocr_image)
    again = read_envelope_again(prepared.image, first)
    assert again.engine == "ppocr"
    assert "72541-055" in again.text
    assert again.rotation == first.rotation


def test_read_with_names_the_engine() -> None:
    """GIVEN a prepared image WHEN verification re-reads it with a named engine THEN that
    engine reads it; an unknown name is refused."""
    img, _ = drawn_page("comic-neue", LINES[:1], height=450)
    assert read_with(engines.PPOCR, img).engine == "ppocr"
    assert read_with(engines.TESSERACT, img).engine == "tesseract"
    with pytest.raises(ValueError, match="unknown OCR engine"):
        read_with("abbyy", img)


def test_rule_from_settings() -> None:
    """GIVEN settings that switch the second engine off and move its threshold
    WHEN the rule is built from them THEN it carries them."""
    from config.settings import Settings

    settings = Settings(ocr_second_engine=False, ocr_second_engine_below_confidence=70.0)
    rule = EngineRule.from_settings(settings)
    assert not rule.second_engine and rule.below_confidence == 70.0
    assert EngineRule().second_engine
