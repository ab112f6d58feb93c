"""Reply PDFs a prison mailroom accepts: US Letter, black only, fonts embedded, name and number on
every page, the program's return address and the volunteer's display name only."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from reportlab.lib.colors import black
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from config.settings import Settings, get_settings
from ocr.reply_codes import format_code
from postal.facility_rules import recipient_block, recipient_id_line

if TYPE_CHECKING:
    from storage.models import Reply

FONT = "LB-DejaVuSans"
FONT_BOLD = "LB-DejaVuSans-Bold"

# Home printers can't print the outer ~0.25 in; mailroom scanners crop too. Header and
# footer sit at 0.75 in, the body at 1 in, so all ink stays inside the 0.5 in margin.
PAGE_WIDTH, PAGE_HEIGHT = LETTER
BODY_MARGIN = 1.0 * inch
FURNITURE_INSET = 0.75 * inch  # x of header/footer text; baseline distance from the edge
FURNITURE_SIZE = 9
BODY_SIZE = 11.5
BODY_LEADING = 16

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
)


class FontMissing(RuntimeError):
    """DejaVu Sans is not installed (Debian: apt-get install fonts-dejavu-core)."""


def _find_font(filename: str) -> Path:
    for folder in _FONT_DIRS:
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    fc_match = shutil.which("fc-match")
    if fc_match:
        family = filename.removesuffix(".ttf").replace("-", ":style=")
        found = subprocess.run(
            [fc_match, "--format=%{file}", family], capture_output=True, text=True, timeout=10,
            check=False,
        ).stdout.strip()
        if found.endswith(filename):
            return Path(found)
    raise FontMissing(
        f"{filename} not found; install DejaVu fonts (Debian: apt-get install fonts-dejavu-core)"
    )


@cache
def register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans (covers Spanish and most Latin text); reportlab embeds a subset."""
    pdfmetrics.registerFont(TTFont(FONT, str(_find_font("DejaVuSans.ttf"))))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_find_font("DejaVuSans-Bold.ttf"))))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT,
                                  boldItalic=FONT_BOLD)
    return FONT, FONT_BOLD


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable_text(text: str) -> str:
    """NFC-normalise, drop control characters, and replace what the font can't draw with '?'."""
    register_fonts()
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text)).replace("\r\n", "\n")
    text = text.replace("\r", "\n").replace("\t", "    ")
    glyphs = pdfmetrics.getFont(FONT).face.charToGlyph
    return "".join(ch if ch == "\n" or ord(ch) in glyphs else "?" for ch in text)


def _paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; single newlines are kept as line breaks."""
    blocks = re.split(r"\n\s*\n", printable_text(text).strip())
    return [escape(block.strip("\n")).replace("\n", "<br/>") for block in blocks if block.strip()]


@dataclass(frozen=True)
class _Furniture:
    """What is printed on every page, so a page separated from the rest still reaches its reader."""

    id_line: str
    code: str


def _canvas_class(furniture: _Furniture) -> type[Canvas]:
    class NumberedCanvas(Canvas):
        """Holds pages back until the end so each can say 'page X of Y'."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._draw_furniture(number, total)
                super().showPage()
            super().save()

        def _draw_furniture(self, number: int, total: int) -> None:
            self.saveState()
            self.setFillColor(black)
            self.setFont(FONT, FURNITURE_SIZE)
            top = PAGE_HEIGHT - FURNITURE_INSET
            left, right = FURNITURE_INSET, PAGE_WIDTH - FURNITURE_INSET
            self.drawString(left, top, furniture.id_line)
            if furniture.code:
                self.drawRightString(right, top, f"Code {furniture.code}")
            self.setLineWidth(0.5)
            self.setStrokeColor(black)
            self.line(left, top - 5, right, top - 5)
            footer = f"{furniture.id_line} \u2014 page {number} of {total}"
            self.drawCentredString(PAGE_WIDTH / 2, FURNITURE_INSET, footer)
            self.restoreState()

    return NumberedCanvas


def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = ParagraphStyle(
        "body", fontName=FONT, fontSize=BODY_SIZE, leading=BODY_LEADING, textColor=black,
        alignment=TA_LEFT, spaceAfter=8,
    )
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=10, leading=13, spaceAfter=0),
        "bold": ParagraphStyle("bold", parent=base, fontName=FONT_BOLD, fontSize=10, leading=13,
                               spaceAfter=0),
        "right": ParagraphStyle("right", parent=base, fontSize=10, leading=13, spaceAfter=0,
                                alignment=TA_RIGHT),
        "code": ParagraphStyle("code", parent=base, fontSize=10, leading=13, spaceAfter=0),
    }


def _lines(lines: list[str], style: ParagraphStyle, first: ParagraphStyle | None = None) -> list:
    out = []
    for index, line in enumerate(lines):
        chosen = first if first and index == 0 else style
        out.append(Paragraph(escape(printable_text(line)), chosen))
    return out


def _story(reply: Reply, settings: Settings, code: str) -> list:
    styles = _styles()
    inmate = reply.inmate
    letter_date = (reply.approved_at or reply.submitted_at or reply.created_at)
    when = (letter_date.date() if letter_date else date.today())
    date_text = f"{when:%B} {when.day}, {when.year}"

    return_block = _lines(settings.program_return_lines, styles["small"], styles["bold"])
    head = Table(
        [[return_block, Paragraph(date_text, styles["right"])]],
        colWidths=[PAGE_WIDTH - 2 * BODY_MARGIN - 1.9 * inch, 1.9 * inch],
    )
    head.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT),  # else the table names Helvetica, not embedded
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (1, 0), (1, 0), "RIGHT"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]))
    story: list = [head, Spacer(1, 0.3 * inch)]
    story.extend(_lines(recipient_block(inmate), styles["small"]))
    story.append(Spacer(1, 0.25 * inch))
    if code:
        story.append(Paragraph(
            f"Pen-pal code: <b>{escape(format_code(code))}</b> \u2014 please write this "
            "code on your next letter so it reaches the right person.", styles["code"]))
        story.append(Spacer(1, 0.2 * inch))
    story.extend(Paragraph(block, styles["body"]) for block in _paragraphs(reply.text))
    signature = printable_text(reply.volunteer.display_name)
    story.append(KeepTogether([
        Spacer(1, 0.1 * inch),
        Paragraph(escape(signature), styles["body"]),
        Paragraph(escape(printable_text(settings.program_name)), styles["small"]),
    ]))
    return story


def _build(reply: Reply, settings: Settings, code: str | None = None) -> tuple[bytes, int]:
    register_fonts()
    code = reply.code if code is None else code
    furniture = _Furniture(id_line=printable_text(recipient_id_line(reply.inmate)),
                           code=format_code(code) if code else "")
    buffer = io.BytesIO()
    doc = BaseDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=BODY_MARGIN,
        rightMargin=BODY_MARGIN,
        topMargin=BODY_MARGIN,
        bottomMargin=BODY_MARGIN,
        # Neutral metadata only: nothing about the writer, the reader, or when it was made.
        title="Letter",
        author=settings.program_name,
        subject="",
        creator=settings.program_name,
        producer="Letterbridge",
        keywords=[],
        invariant=1,
        # Otherwise every page names Helvetica, a font that is not embedded.
        initialFontName=FONT,
        initialFontSize=BODY_SIZE,
    )
    frame = Frame(BODY_MARGIN, BODY_MARGIN, PAGE_WIDTH - 2 * BODY_MARGIN,
                  PAGE_HEIGHT - 2 * BODY_MARGIN, id="body", leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="letter", frames=[frame])])
    doc.build(_story(reply, settings, code), canvasmaker=_canvas_class(furniture))
    return buffer.getvalue(), doc.page


def render_with_pages(reply: Reply, *, settings: Settings | None = None) -> tuple[bytes, int]:
    """The PDF and its page count from one rendering."""
    return _build(reply, settings or get_settings())


def render_reply_pdf(reply: Reply, *, settings: Settings | None = None) -> bytes:
    """The letter as printed; needs `reply.inmate` (with its facility) and `reply.volunteer`."""
    data, _pages = _build(reply, settings or get_settings())
    return data


def count_pages(reply: Reply, settings: Settings | None = None, *, code: str | None = None) -> int:
    """How many pages the printed reply will have (renders it; tens of ms a page).

    `code` stands in for a reply code not handed out yet, so the count matches the final PDF.
    """
    _data, pages = _build(reply, settings or get_settings(), code)
    return pages
