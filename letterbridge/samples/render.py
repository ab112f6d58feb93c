"""Lays words out on paper and draws them with PIL, remembering where every word landed."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from letterbridge.samples import fonts

DPI = 300
PAGE_W, PAGE_H = 2550, 3300  # US Letter, 8.5 x 11 in
ENV_W, ENV_H = 2850, 1238  # #10 envelope, 9.5 x 4.125 in, landscape

Box = tuple[int, int, int, int]


@dataclass
class Tok:
    """One unbreakable piece of a line: a word, or a planted value with its punctuation."""

    text: str
    kind: str | None = None  # a PlantedDetail kind, or "sender_name" / "sender_number"
    span: tuple[int, int] | None = None  # where the value sits inside `text`
    ref: int | None = None  # which planned detail this is

    @property
    def value(self) -> str:
        if self.span is None:
            return self.text
        return self.text[self.span[0] : self.span[1]]


@dataclass
class Row:
    toks: list[Tok]
    indent: int = 0
    group: int | None = None  # rows of one group are never split over two pages
    align: str = "left"

    @property
    def blank(self) -> bool:
        return not self.toks

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.toks)


@dataclass
class Hand:
    """How one letter is written: face, size, spacing, ink, paper and how unsteady the hand is."""

    font_key: str
    size: int
    pitch: int  # px between baselines
    ink: int
    handwriting: bool
    left: int = 300
    right: int = PAGE_W - 300
    top: int = 300
    bottom: int = PAGE_H - 280
    ruled: bool = False
    margin_line: bool = False
    jitter: float = 0.0  # px, std of a line's baseline offset
    word_jitter: float = 0.0
    slope: float = 0.0  # max |px per px| of a line's slant
    indent: int = 0

    @property
    def caps(self) -> bool:
        return fonts.ALL_FONTS[self.font_key].caps_only

    @property
    def font(self):
        return fonts.font(self.font_key, self.size)

    @property
    def rows_per_page(self) -> int:
        return (self.bottom - self.top) // self.pitch


def choose_hand(
    rng: random.Random, *, style: str, language: str, ruled: bool | None = None
) -> Hand:
    if style == "handwriting":
        spec = rng.choice(fonts.available(fonts.HANDWRITING_FONTS, language=language))
        size = rng.randrange(54, 64)
        pitch = rng.choice([84, 90, 96, 103])  # college and wide ruled notebooks
        pitch = max(pitch, int(size * 1.45))
        if ruled is None:
            ruled = rng.random() < 0.6
        left = 390 if ruled else rng.randrange(220, 320)
        return Hand(
            spec.key,
            size,
            pitch,
            ink=rng.randrange(15, 75),
            handwriting=True,
            left=left,
            right=PAGE_W - rng.randrange(160, 260),
            top=rng.randrange(240, 330),
            ruled=ruled,
            margin_line=ruled and rng.random() < 0.85,
            jitter=rng.uniform(2.5, 5.0),
            word_jitter=rng.uniform(1.0, 2.5),
            slope=rng.uniform(0.0, 0.006),
            indent=rng.choice([0, 80, 120]),
        )
    spec = rng.choice(fonts.available(fonts.TYPED_FONTS, language=language))
    size = rng.randrange(46, 51)  # 11-12 pt at 300 DPI
    pitch = int(size * rng.uniform(1.3, 1.6))
    if ruled:
        pitch = max(pitch, 84)
    return Hand(
        spec.key,
        size,
        pitch,
        ink=rng.randrange(0, 35),
        handwriting=False,
        left=390 if ruled else 300,
        ruled=bool(ruled),
        margin_line=bool(ruled),
        indent=rng.choice([0, 0, 120]),
    )


# --- tokens and rows ---------------------------------------------------------------------


def words(text: str, kind: str | None = None) -> list[Tok]:
    return [Tok(w, kind) for w in text.split()]


def fill_template(template: str, values: dict[str, tuple[str, str, int]]) -> list[Tok]:
    """Tokens of a sentence whose "{v}"/"{w}" placeholders are (kind, value, ref) details.

    Punctuation glued to a placeholder ("({v})", "{v}.") stays in the same token so the
    printed spacing is natural, and `span` says where the value itself is.
    """
    toks: list[Tok] = []
    for word in template.split(" "):
        for key, (kind, value, ref) in values.items():
            mark = "{" + key + "}"
            if mark in word:
                pre, post = word.split(mark, 1)
                toks.append(Tok(pre + value + post, kind, (len(pre), len(pre) + len(value)), ref))
                break
        else:
            if word:
                toks.append(Tok(word))
    return toks


def wrap(
    toks: list[Tok], hand: Hand, *, first_indent: int = 0, group: int | None = None
) -> list[Row]:
    font = hand.font
    if hand.caps:  # measure what will be drawn
        for tok in toks:
            tok.text = tok.text.upper()
    space = font.getlength(" ") * (1.25 if hand.handwriting else 1.0)
    width = hand.right - hand.left
    rows: list[Row] = []
    line: list[Tok] = []
    used = first_indent
    for tok in toks:
        w = font.getlength(tok.text)
        need = w if not line else space + w
        if line and used + need > width:
            rows.append(Row(line, first_indent if not rows else 0, group))
            line, used, need = [], 0, w
        line.append(tok)
        used += need
    if line:
        rows.append(Row(line, first_indent if not rows else 0, group))
    return rows


def paginate(rows: list[Row], hand: Hand, header: Callable[[int], list[Row]]) -> list[list[Row]]:
    """Rows onto pages. `header(page_number)` gives the rows that open page 2, 3, ..."""
    cap = hand.rows_per_page
    pages: list[list[Row]] = [[]]
    i = 0
    while i < len(rows):
        row = rows[i]
        page = pages[-1]
        if row.blank and (not page or all(r.blank or r.group == -1 for r in page)):
            i += 1  # no blank rows at the top of a page
            continue
        n = 1
        if row.group is not None and row.group >= 0:
            while i + n < len(rows) and rows[i + n].group == row.group:
                n += 1
        if len(page) + n > cap and page and len(page) > len(header(len(pages))):
            new = header(len(pages) + 1)
            pages.append(list(new))
            continue
        page.extend(rows[i : i + n])
        i += n
    return pages


# --- drawing -----------------------------------------------------------------------------


@dataclass
class Placed:
    tok: Tok
    box: Box  # the token's box
    value_box: Box  # the box of the value inside the token (same as box when no span)
    row: int


@dataclass
class DrawnPage:
    image: np.ndarray
    text: str
    placed: list[Placed] = field(default_factory=list)


def _clip(box: tuple[float, float, float, float], w: int, h: int) -> Box:
    x0, y0, x1, y1 = box
    return (
        max(0, math.floor(x0)),
        max(0, math.floor(y0)),
        min(w, math.ceil(x1)),
        min(h, math.ceil(y1)),
    )


def draw_rows(
    draw: ImageDraw.ImageDraw,
    rows: list[Row],
    hand: Hand,
    rng: random.Random,
    *,
    left: int,
    right: int,
    top: int,
    size: tuple[int, int],
    ink: int | None = None,
    font=None,
    pitch: int | None = None,
) -> tuple[list[Placed], list[float]]:
    """Draw rows from `top`; returns what was placed and each row's baseline."""
    font = font or hand.font
    pitch = pitch or hand.pitch
    if hand.caps:  # the face draws capitals only: make the truth say so too
        for row in rows:
            for tok in row.toks:
                tok.text = tok.text.upper()
    ink = hand.ink if ink is None else ink
    space = font.getlength(" ")
    placed: list[Placed] = []
    baselines: list[float] = []
    for r, row in enumerate(rows):
        baseline = top + (r + 1) * pitch - pitch * 0.22
        baselines.append(baseline)
        if row.blank:
            continue
        if hand.handwriting:
            baseline += max(-3 * hand.jitter, min(3 * hand.jitter, rng.gauss(0, hand.jitter)))
            slope = rng.uniform(-hand.slope, hand.slope)
            x = left + row.indent + rng.uniform(-12, 12)
        else:
            slope = 0.0
            x = left + row.indent
        if row.align == "right":
            width = sum(font.getlength(t.text) for t in row.toks) + space * (len(row.toks) - 1)
            x = right - width
        x_start = x
        if not hand.handwriting:
            # one call per line is much faster; the token boxes below follow the same advances
            draw.text((x, baseline), row.text, font=font, fill=ink, anchor="ls")
        for tok in row.toks:
            y = baseline + slope * (x - x_start)
            if hand.handwriting:
                y += rng.gauss(0, hand.word_jitter)
                draw.text((x, y), tok.text, font=font, fill=ink, anchor="ls")
            box = _clip(draw.textbbox((x, y), tok.text, font=font, anchor="ls"), *size)
            value_box = box
            if tok.span is not None and tok.span != (0, len(tok.text)):
                vx = x + font.getlength(tok.text[: tok.span[0]])
                value_box = _clip(draw.textbbox((vx, y), tok.value, font=font, anchor="ls"), *size)
            placed.append(Placed(tok, box, value_box, r))
            gap = space * (rng.uniform(0.9, 1.6) if hand.handwriting else 1.0)
            x += font.getlength(tok.text) + gap
    return placed, baselines


def rows_text(rows: list[Row]) -> str:
    lines = [row.text for row in rows]
    # one empty line between paragraphs at most, none at the ends
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def draw_letter_page(rows: list[Row], hand: Hand, rng: random.Random) -> DrawnPage:
    img = Image.new("L", (PAGE_W, PAGE_H), 255)
    draw = ImageDraw.Draw(img)
    if hand.ruled:
        rule = rng.randrange(175, 215)  # pale blue rules scan as light grey
        for r in range(-1, (PAGE_H - hand.top) // hand.pitch + 1):
            y = round(hand.top + (r + 1) * hand.pitch - hand.pitch * 0.22 + 3)
            if 0 < y < PAGE_H:
                draw.line([(0, y), (PAGE_W, y)], fill=rule, width=3)
        if hand.margin_line:
            x = hand.left - 45
            draw.line([(x, 0), (x, PAGE_H)], fill=rng.randrange(150, 190), width=4)
    placed, _ = draw_rows(
        draw, rows, hand, rng, left=hand.left, right=hand.right, top=hand.top, size=(PAGE_W, PAGE_H)
    )
    return DrawnPage(np.asarray(img), rows_text(rows), placed)


def union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def draw_stamp(draw: ImageDraw.ImageDraw, rng: random.Random, *, x1: int, y0: int) -> Box:
    """A postage stamp with a wavy cancellation: ink that is not text."""
    w, h = rng.randrange(200, 250), rng.randrange(240, 290)
    x0 = x1 - w
    draw.rectangle([x0, y0, x1, y0 + h], outline=90, width=4, fill=225)
    draw.rectangle([x0 + 18, y0 + 18, x1 - 18, y0 + h - 18], outline=120, width=3, fill=200)
    for k in range(5):  # a flag-like pattern
        yy = y0 + 40 + k * 28
        draw.rectangle([x0 + 30, yy, x1 - 30, yy + 12], fill=150)
    size = 30
    while fonts.font("dejavu-sans-bold", size).getlength("USA FOREVER") > w - 50 and size > 12:
        size -= 2
    draw.text(
        ((x0 + x1) // 2, y0 + h - 36),
        "USA FOREVER",
        font=fonts.font("dejavu-sans-bold", size),
        fill=70,
        anchor="ms",
    )
    # cancellation: wavy lines left of and over the stamp, and a round postmark
    cx, cy, r = x0 - 160, y0 + h // 2, 95
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=110, width=4)
    for k in range(4):
        pts = [(x, y0 + 60 + k * 40 + 12 * math.sin(x / 35.0)) for x in range(cx + r, x1 + 20, 8)]
        draw.line(pts, fill=110, width=4)
    return (cx - r, y0, x1, y0 + h)
