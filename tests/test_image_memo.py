"""The page-image codec remembers what it just encoded or decoded, by content (ocr/images.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocr import images


@pytest.fixture(autouse=True)
def empty_memo():
    images._memo.clear()
    yield
    images._memo.clear()


def _page(seed: int, shape=(300, 200)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def test_an_image_encoded_again_is_not_encoded_twice_and_reads_back_the_same(monkeypatch) -> None:
    """GIVEN an image encoded once WHEN the same pixels are encoded again THEN the same PNG comes
    back without a second encode, and decoding it gives the pixels without a decode."""
    page = _page(1)
    png = images.encode_png(page)
    calls = {"encode": 0, "decode": 0}
    real_encode, real_decode = cv2.imencode, cv2.imdecode

    def encode(*args, **kwargs):
        calls["encode"] += 1
        return real_encode(*args, **kwargs)

    def decode(*args, **kwargs):
        calls["decode"] += 1
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(images.cv2, "imencode", encode)
    monkeypatch.setattr(images.cv2, "imdecode", decode)
    assert images.encode_png(page.copy()) == png
    back = images.decode_image(png)
    assert np.array_equal(back, page)
    assert calls == {"encode": 0, "decode": 0}
    # What a hit returns is the codec's own answer.
    assert np.array_equal(real_decode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE), page)


def test_changing_a_returned_or_encoded_array_changes_nothing_remembered() -> None:
    """GIVEN an image encoded, and its PNG decoded WHEN either array is changed in place THEN a
    later encode of the new pixels makes a new PNG, and a later decode gives the old pixels."""
    page = _page(2)
    png = images.encode_png(page)
    page[:50] = 0  # the caller burns a box into its own array
    assert images.encode_png(page) != png
    first = images.decode_image(png)
    first[:] = 255
    second = images.decode_image(png)
    assert not np.array_equal(second, first)
    assert second[:50].any()


def test_other_kinds_of_file_are_decoded_but_never_stand_for_a_png() -> None:
    """GIVEN a JPEG and a colour PNG of a page WHEN decoded to gray THEN encoding that gray array
    makes a real 8-bit grayscale PNG, not the JPEG's or the colour PNG's bytes."""
    page = _page(3)
    jpeg = cv2.imencode(".jpg", page)[1].tobytes()
    colour = cv2.imencode(".png", cv2.cvtColor(page, cv2.COLOR_GRAY2BGR))[1].tobytes()
    for data in (jpeg, colour):
        gray = images.decode_image(data)
        png = images.encode_png(gray)
        assert png != data and images._gray8_png(png)
        assert np.array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), gray)


def test_the_memo_stays_within_its_size(monkeypatch) -> None:
    """GIVEN a memo of a few images' size WHEN many images pass THEN it holds no more than that,
    the oldest going first, and an image too large for it is not kept at all."""
    memo = images._Memo(max_bytes=3 * (300 * 200 * 2))
    monkeypatch.setattr(images, "_memo", memo)
    pngs = [images.encode_png(_page(seed)) for seed in range(10)]
    assert memo._size <= memo.max_bytes and 1 <= len(memo._entries) <= 3
    assert len(memo._by_png) == len(memo._entries)
    assert memo.array(images._digest(pngs[-1])) is not None
    assert memo.array(images._digest(pngs[0])) is None
    images.encode_png(_page(11, shape=(3000, 2000)))
    assert memo._size <= memo.max_bytes


def test_a_stored_page_image_reads_back_exactly_and_shows_as_png() -> None:
    """GIVEN a page in the stored format WHEN read back THEN the pixels are exactly the
    same; WHEN a browser is given it THEN it gets a PNG of those pixels; GIVEN a cut-off or
    damaged page file THEN reading it says so (ValueError), never returns other pixels."""
    page = _page(4, shape=(331, 257))
    data = images.encode_page(page)
    assert images.is_page_format(data) and len(data) < page.nbytes + 64
    assert np.array_equal(images.decode_image(data), page)
    png = images.browser_png(data)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), page)
    assert images.browser_png(png) == png  # PNG (and JPEG) as it is
    for broken in (data[:10], data[:-20], data[:13] + b"\x00" * (len(data) - 13)):
        with pytest.raises(ValueError, match="not a readable image"):
            images.decode_image(broken)
    with pytest.raises(ValueError):
        images.encode_page(np.zeros((4, 4, 3), np.uint8))
