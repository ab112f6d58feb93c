"""Envelopes and address labels for printed replies: #10 envelopes or Avery 5160 sheets, black only.

Both take replies in print order and keep it: envelope N (or label N) belongs to the Nth
letter of the same list. Return address: the program's, never a volunteer's. Labels carry
the recipient only; with labels the program uses envelopes printed or stamped with its
return address (it is the same on every envelope, unlike the recipient).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

from reportlab.lib.colors import black
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import inch
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from config.settings import Settings, get_settings
from postal.facility_rules import recipient_block
from postal.reply_pdf import FONT, FONT_BOLD, printable_text, register_fonts

if TYPE_CHECKING:
    from storage.models import Reply

ENVELOPE_10 = (9.5 * inch, 4.125 * inch)

# Avery 5160 / 8160: US Letter, 3 columns x 10 rows of 2.625 x 1 in labels.
LABEL_WIDTH = 2.625 * inch
LABEL_HEIGHT = 1.0 * inch
LABEL_COLUMNS = 3
LABEL_ROWS = 10
LABELS_PER_SHEET = LABEL_COLUMNS * LABEL_ROWS
LABEL_LEFT = 0.1875 * inch
LABEL_TOP = 0.5 * inch
LABEL_PITCH_X = 2.75 * inch  # 0.125 in gap between columns
LABEL_PITCH_Y = 1.0 * inch
LABEL_PADDING = 0.14 * inch


def _canvas(buffer: io.BytesIO, pagesize: tuple[float, float], settings: Settings) -> Canvas:
    register_fonts()
    canvas = Canvas(buffer, pagesize=pagesize, invariant=1, initialFontName=FONT)
    canvas.setTitle("Addresses")
    canvas.setAuthor(settings.program_name)
    canvas.setCreator(settings.program_name)
    canvas.setProducer("Letterbridge")
    canvas.setSubject("")
    canvas.setFillColor(black)
    return canvas


def _fit_size(lines: Iterable[str], font: str, size: float, width: float, smallest: float) -> float:
    """The largest size ≤ `size` at which every line fits `width` (never below `smallest`)."""
    widest = max((stringWidth(line, font, 1) for line in lines), default=0)
    if widest <= 0:
        return size
    return max(smallest, min(size, width / widest))


def _draw_lines(
    canvas: Canvas, lines: list[str], x: float, top: float, *, font: str, size: float,
    first_font: str | None = None,
) -> None:
    leading = size * 1.2
    for index, line in enumerate(lines):
        canvas.setFont(first_font if first_font and index == 0 else font, size)
        canvas.drawString(x, top - size - index * leading, line)


def recipient_lines(reply: Reply) -> list[str]:
    return [printable_text(line) for line in recipient_block(reply.inmate)]


def envelopes_pdf(replies: list[Reply], settings: Settings | None = None) -> bytes:
    """One #10 envelope (9.5 x 4.125 in) per reply: return address top left, recipient centred."""
    settings = settings or get_settings()
    width, height = ENVELOPE_10
    buffer = io.BytesIO()
    canvas = _canvas(buffer, ENVELOPE_10, settings)
    return_lines = [printable_text(line) for line in settings.program_return_lines]
    margin = 0.4 * inch  # envelope feeders smudge closer to the edge
    for reply in replies:
        size = _fit_size(return_lines, FONT_BOLD, 9, width / 2 - margin, 6)
        _draw_lines(canvas, return_lines, margin, height - margin, font=FONT, size=size,
                    first_font=FONT_BOLD)

        lines = recipient_lines(reply)
        size = _fit_size(lines, FONT, 12, width - 2 * 1.5 * inch, 8)
        leading = size * 1.2
        block_width = max(stringWidth(line, FONT, size) for line in lines)
        block_height = size + leading * (len(lines) - 1)
        x = (width - block_width) / 2
        # Centred a little below the middle, inside the area USPS scanners read.
        top = height * 0.45 + block_height / 2
        _draw_lines(canvas, lines, x, top, font=FONT, size=size)
        canvas.showPage()
    if not replies:
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def label_origin(position: int) -> tuple[int, float, float]:
    """(sheet, x, y of the label's top-left corner) for the label at 0-based `position`."""
    sheet, slot = divmod(position, LABELS_PER_SHEET)
    row, column = divmod(slot, LABEL_COLUMNS)
    x = LABEL_LEFT + column * LABEL_PITCH_X
    y = LETTER[1] - LABEL_TOP - row * LABEL_PITCH_Y
    return sheet, x, y


def labels_pdf(replies: list[Reply], settings: Settings | None = None) -> bytes:
    """Avery 5160 sheets (30 labels, 2.625 x 1 in), one recipient label per reply, row by row."""
    settings = settings or get_settings()
    buffer = io.BytesIO()
    canvas = _canvas(buffer, LETTER, settings)
    inner_width = LABEL_WIDTH - 2 * LABEL_PADDING
    current_sheet = 0
    for position, reply in enumerate(replies):
        sheet, x, y = label_origin(position)
        if sheet != current_sheet:
            canvas.showPage()
            current_sheet = sheet
        lines = recipient_lines(reply)
        size = _fit_size(lines, FONT, 9, inner_width, 6)
        # Shrink further if the block is taller than the label.
        inner_height = LABEL_HEIGHT - 2 * LABEL_PADDING
        size = min(size, inner_height / (1 + 1.2 * (len(lines) - 1)))
        block_height = size + size * 1.2 * (len(lines) - 1)
        top = y - (LABEL_HEIGHT - block_height) / 2
        _draw_lines(canvas, lines, x + LABEL_PADDING, top, font=FONT, size=size)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
