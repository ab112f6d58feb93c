"""Plain data that travels between OCR steps (and, serialised to JSON blobs, between flow tasks)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the page image, x1/y1 exclusive


@dataclass
class Word:
    text: str
    conf: float  # 0..100 (Tesseract's word confidence; PP-OCR's mean character probability x 100)
    x0: int
    y0: int
    x1: int
    y1: int
    block: int = 0
    par: int = 0
    line: int = 0  # line number within (block, par)

    @property
    def box(self) -> Box:
        return (self.x0, self.y0, self.x1, self.y1)

    @property
    def line_key(self) -> tuple[int, int, int]:
        return (self.block, self.par, self.line)


@dataclass
class OcrPage:
    """What an OCR engine read on one page image."""

    words: list[Word] = field(default_factory=list)
    width: int = 0
    height: int = 0
    confidence: float = 0.0  # mean word confidence, 0..100
    language: str = ""  # "eng" or "spa"
    needs_transcription: bool = False
    rotation: int = 0  # degrees applied to make the page upright (0/90/180/270)
    skew: float = 0.0  # degrees of deskew applied
    timings: dict[str, float] = field(default_factory=dict)
    # Which engine read it ("tesseract" or "ppocr"): verification re-reads with the same one.
    # Readings stored before there were two engines have no such key and were Tesseract's.
    engine: str = "tesseract"

    @property
    def text(self) -> str:
        return words_to_text(self.words)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> OcrPage:
        data: dict[str, Any] = json.loads(raw)
        words = [Word(**w) for w in data.pop("words", [])]
        return cls(words=words, **data)


def words_to_text(words: list[Word]) -> str:
    """Join words into lines (by Tesseract's block/paragraph/line) and lines into text."""
    lines: list[str] = []
    current: tuple[int, int, int] | None = None
    current_block: tuple[int, int] | None = None
    parts: list[str] = []
    for word in words:
        if word.line_key != current:
            if parts:
                lines.append(" ".join(parts))
            if current_block is not None and (word.block, word.par) != current_block:
                lines.append("")
            parts = []
            current = word.line_key
            current_block = (word.block, word.par)
        parts.append(word.text)
    if parts:
        lines.append(" ".join(parts))
    return "\n".join(lines)
