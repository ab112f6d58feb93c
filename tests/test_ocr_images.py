"""Stories about page images travelling as PNG bytes, and Tesseract's words being tidied."""

from __future__ import annotations

import numpy as np
import pytest

from ocr.images import decode_image, encode_png
from ocr.tesseract import guess_language, parse_tsv


def test_png_round_trip_is_lossless() -> None:
    """GIVEN a grey page WHEN encoded to PNG and decoded THEN it is the same pixels."""
    page = np.random.default_rng(0).integers(0, 256, (330, 255), dtype=np.uint8)
    data = encode_png(page)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_image(data), page)


def test_decoding_garbage_fails_clearly() -> None:
    """GIVEN bytes that are no image WHEN decoded THEN ValueError."""
    with pytest.raises(ValueError):
        decode_image(b"not a png")


def test_bar_read_for_a_capital_i_is_put_right() -> None:
    """GIVEN Tesseract output where a lone "I" came out as "|" WHEN parsed
    THEN the word is "I" (and "|'m" is "I'm"), with its box and line kept."""
    header = "\t".join(["level", "page_num", "block_num", "par_num", "line_num", "word_num",
                        "left", "top", "width", "height", "conf", "text"])
    rows = [
        "5\t1\t1\t1\t1\t1\t100\t200\t10\t40\t91.5\t|",
        "5\t1\t1\t1\t1\t2\t130\t200\t60\t40\t95.0\tam",
        "5\t1\t1\t1\t2\t1\t100\t260\t50\t40\t90.0\t|'m",
        "5\t1\t1\t1\t2\t2\t170\t260\t10\t40\t-1\t ",
    ]
    words = parse_tsv("\n".join([header, *rows]).encode())
    assert [w.text for w in words] == ["I", "am", "I'm"]
    assert words[0].box == (100, 200, 110, 240) and words[2].line == 2


def test_language_guess() -> None:
    """GIVEN a Spanish and an English sentence WHEN guessed THEN spa and eng."""
    assert guess_language("Querida amiga, espero que tu familia esté bien y me escribas.") == "spa"
    assert guess_language("Dear friend, I hope your family is well and you write back.") == "eng"
