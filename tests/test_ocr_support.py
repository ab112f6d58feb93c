"""Page images drawn on the spot for the OCR tests (no committed binaries); holds no tests."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
HANDWRITING = "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf"

LETTER_LINES = [
    "Dear Maria, thank you for your last letter.",
    "The garden behind the kitchen is growing well",
    "and I planted tomatoes, beans and sunflowers.",
    "Please write back soon and tell me about school.",
    "Your friend always, Thomas",
]


def draw_page(
    lines: list[str] = LETTER_LINES,
    *,
    font: str = SERIF,
    size: int = 44,
    width: int = 2550,
    height: int = 3300,
    paper: int = 255,
    top: int = 300,
    spacing: int = 100,
    centred: bool = False,
) -> np.ndarray:
    """A US-Letter page at 300 DPI with `lines` of black text on `paper`-grey paper."""
    im = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(im)
    face = ImageFont.truetype(font, size)
    for i, line in enumerate(lines):
        x = (width - draw.textlength(line, font=face)) / 2 if centred else 250
        draw.text((x, top + i * spacing), line, font=face, fill=0)
    return np.asarray(im).copy()
