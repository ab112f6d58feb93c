"""Stories about preparing page images: straight, upright, cropped, and blank backs spotted."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_ocr_support import HANDWRITING, draw_page

from ocr import preprocess
from ocr.preprocess import PreprocessOptions, prepare


def _scanner_noise(page: np.ndarray, *, sigma: float = 6.0, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, page.shape)
    return np.clip(page.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _empty_back(seed: int = 1) -> np.ndarray:
    """Off-white paper, faint noise, and the letter on the other side showing through mirrored."""
    front = draw_page(size=48)
    through = cv2.GaussianBlur(cv2.flip(front, 1), (9, 9), 3).astype(np.float32)
    paper = 236 - (255 - through) * (22 / 255)  # bleed-through ~20 levels darker than paper
    return _scanner_noise(paper.astype(np.uint8), seed=seed)


@pytest.mark.parametrize("angle", [-4.0, -2.3, -0.6, 0.4, 1.7, 3.9])
def test_deskew_leaves_less_than_a_third_of_a_degree(angle: float) -> None:
    """GIVEN a page of text rotated by a known angle WHEN the skew is estimated
    THEN the estimate is within 0.3° and prepare() straightens it to the same residual."""
    page = preprocess.rotate_small_angle(draw_page(), angle)
    assert abs(preprocess.estimate_skew(page) - angle) < 0.3
    prepared = prepare(page, PreprocessOptions(orient=False))
    assert abs(prepared.skew + angle) < 0.3
    assert abs(preprocess.estimate_skew(prepared.image)) < 0.3


def test_empty_duplex_backs_are_blank() -> None:
    """GIVEN empty backs (off-white, noisy, letter showing through) WHEN checked THEN blank."""
    assert all(preprocess.is_blank(_empty_back(seed)) for seed in range(3))
    assert preprocess.is_blank(np.full((3300, 2550), 255, np.uint8))


def test_a_few_handwritten_lines_are_not_blank() -> None:
    """GIVEN an off-white page with only two short handwritten lines WHEN checked THEN not blank."""
    page = _scanner_noise(draw_page(["Miss you all.", "Love, Dad"], font=HANDWRITING, paper=236))
    assert not preprocess.is_blank(page)


def test_prepare_marks_a_blank_page_and_does_no_more() -> None:
    """GIVEN an empty back WHEN prepared THEN it is marked blank and nothing is turned."""
    prepared = prepare(_empty_back())
    assert prepared.blank and prepared.rotation == 0 and prepared.skew == 0.0


def test_dark_scanner_background_is_cropped() -> None:
    """GIVEN a page lying on a dark scanner bed with 150-px margins WHEN prepared
    THEN the bed is cut away and the paper (with its text) is what remains."""
    paper = draw_page()
    bed = np.full((paper.shape[0] + 300, paper.shape[1] + 300), 40, np.uint8)
    bed[150:-150, 150:-150] = paper
    prepared = prepare(bed, PreprocessOptions(orient=False, deskew=False))
    h, w = prepared.image.shape
    assert abs(h - paper.shape[0]) <= 30 and abs(w - paper.shape[1]) <= 30
    assert prepared.image[:5, :].min() > 200  # no dark band left at the top


def test_uneven_light_becomes_white_paper() -> None:
    """GIVEN a page with a shadow falling across it WHEN prepared THEN the paper is even white
    and the text stays dark."""
    page = draw_page().astype(np.float32)
    shade = np.linspace(0.55, 1.0, page.shape[1], dtype=np.float32)[None, :]
    shaded = (page * shade).astype(np.uint8)
    prepared = prepare(shaded, PreprocessOptions(orient=False, deskew=False, crop=False))
    paper = prepared.image[2000:3000, 100:2400]
    assert paper.min() > 200
    assert prepared.image[300:360, 250:1500].min() < 80


def _ruled_letter() -> np.ndarray:
    """Handwriting on notebook paper: pale grey rules under each line, a margin line."""
    page = draw_page(font=HANDWRITING, size=56, top=300, spacing=100)
    ruled = np.full_like(page, 255)
    for y in range(100, page.shape[0], 100):
        ruled[y + 60 : y + 63, :] = 190  # just under each line's baseline
    ruled[:, 200:204] = 170
    return np.minimum(page, ruled)


def test_notebook_rules_are_removed_for_tesseract_only() -> None:
    """GIVEN handwriting on ruled notebook paper WHEN prepared
    THEN Tesseract's copy has no rules left but keeps the writing, and the person's copy
    still shows the paper as it is."""
    page = _ruled_letter()
    prepared = prepare(page, PreprocessOptions(orient=False, deskew=False))
    rule_row = 1060  # a rule well below the text
    assert prepared.image[rule_row, 400:2000].mean() < 230
    assert prepared.ocr_image[rule_row, 400:2000].min() == 255
    assert prepared.ocr_image[:, 200:204].min() == 255  # the margin line is gone too
    text_rows = slice(300, 760)
    assert (prepared.ocr_image[text_rows, 250:2400] < 128).sum() > 0.8 * (
        (page[text_rows, 250:2400] < 128).sum())


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_orientation_is_read_from_the_ink(turn: int) -> None:
    """GIVEN a typed letter turned by a right angle and crooked by 1.5°
    WHEN its geometry is estimated from the ink alone (~50 ms, no Tesseract)
    THEN the turn that makes it upright and its skew are found."""
    page = preprocess.rotate_small_angle(draw_page(size=40, spacing=70,
                                                   lines=_LONG_LETTER), 1.5)
    geometry = preprocess.estimate_geometry(preprocess.rotate_right_angle(page, turn))
    assert geometry.rotation == (360 - turn) % 360
    assert abs(geometry.skew - 1.5) < 0.3


_LONG_LETTER = [
    "Dear Maria, thank you for your last letter, it made my whole week better.",
    "The garden behind the kitchen is growing well and I planted tomatoes,",
    "beans and sunflowers along the fence where the light is good all day.",
    "My mother wrote to say that my nephew started playing baseball this",
    "spring and that he is already better at it than I ever was, which is fine.",
    "Please write back soon and tell me about your job and your dog.",
    "Do you still walk by the river every morning before work? I think about",
    "that a lot when the yard is loud. Write back when you can, I will be here.",
    "Your friend always,",
    "Thomas",
]


def test_an_envelope_in_a_hairline_typewriter_face_is_not_blank() -> None:
    """GIVEN an envelope typed in a thin typewriter face (FreeMono, which nothing was tuned on)
    on grey paper: shrunk by averaging, its strokes faded below the ink contrast and it was
    taken for a blank back WHEN checked THEN it is not blank; an empty back with 300 specks
    of dust is still blank."""
    from letterbridge.samples import fonts
    from letterbridge.samples.degrade import blank_back

    envelope = draw_page(["FRANK REYES", "#87159-020", "FCI Pine Hollow", "P.O. Box 5300"],
                         font=str(fonts.font_path("free-mono")), size=36, width=2850,
                         height=1238, paper=205, top=100, spacing=52)
    envelope = np.maximum(envelope, 60)  # a worn ribbon: dark grey, not black
    assert not preprocess.is_blank(envelope)
    rng = np.random.default_rng(5)
    dusty = blank_back((3300, 2550), rng, front=draw_page(size=48))
    for _ in range(300):
        y, x, r = int(rng.integers(0, 3290)), int(rng.integers(0, 2540)), int(rng.integers(1, 5))
        dusty[y:y + r, x:x + r] = int(rng.integers(30, 120))
    assert preprocess.is_blank(dusty)


@pytest.mark.parametrize("shape", [(3300, 2550), (3301, 2551), (1238, 2850), (150, 2000),
                                   (400, 300)])
def test_each_block_keeps_its_darkest_pixel(shape) -> None:
    """GIVEN a page of any size WHEN shrunk for the blank test THEN each pixel of the small
    copy is the darkest pixel of its block, blocks that do not fit whole are left out, and a
    page already about that narrow is kept as it is."""
    from ocr.preprocess import WORK_WIDTH, _darkest_small

    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    small = _darkest_small(img)
    n = round(shape[1] / WORK_WIDTH)
    if n <= 1:
        assert small is img
        return
    h, w = shape[0] // n, shape[1] // n
    expected = img[:h * n, :w * n].reshape(h, n, w, n).min(axis=(1, 3))
    assert small.shape == (h, w) and np.array_equal(small, expected)
