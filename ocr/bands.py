"""Cut the horizontal bands around burned boxes out of a page, for a quick re-check by OCR.

Pixels outside these bands are exactly the pixels the finders already read, so re-reading
the bands (a line above and below each box, full page width) re-checks everything that
burning changed at a fraction of a whole page's OCR time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]
GAP = 40  # white rows between bands so Tesseract sees separate lines


def band_ranges(boxes: Sequence[Box], height: int, *, margin_lines: float = 1.5) -> list[tuple[int, int]]:
    spans = []
    for _x0, y0, _x1, y1 in boxes:
        line = max(30, y1 - y0)
        spans.append((max(0, int(y0 - margin_lines * line)),
                      min(height, int(y1 + margin_lines * line))))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _snap_to_gaps(img: np.ndarray, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Move each band edge outwards to the nearest row without ink, so no line is cut in half
    (half a line reads as nonsense, and nonsense can look like an address)."""
    ink = (img < 140).sum(axis=1)
    quiet = ink <= max(2, img.shape[1] // 500)
    height = img.shape[0]
    snapped = []
    for start, end in ranges:
        limit = max(60, (end - start))
        top = start
        while top > 0 and not quiet[top] and start - top < limit:
            top -= 1
        bottom = end
        while bottom < height - 1 and not quiet[bottom] and bottom - end < limit:
            bottom += 1
        snapped.append((top, bottom))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(snapped):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class Bands:
    """The stacked bands, and where each came from on the page."""

    image: np.ndarray
    # (first row in `image`, first row on the page, rows) for each band
    spans: tuple[tuple[int, int, int], ...] = ()

    def to_page(self, box: Box) -> Box:
        """A box read on the stacked bands, in the page's coordinates."""
        x0, y0, x1, y1 = box
        for at, start, rows in self.spans:
            if at <= (y0 + y1) / 2 < at + rows:
                return (x0, y0 - at + start, x1, y1 - at + start)
        return box  # the whole page was read (no boxes): coordinates are the page's


def bands_of(img: np.ndarray, boxes: Sequence[Box]) -> Bands:
    """The page's bands around `boxes`, stacked top to bottom with white gaps."""
    if not boxes:
        return Bands(img)
    ranges = _snap_to_gaps(img, band_ranges(boxes, img.shape[0]))
    white = np.full((GAP, img.shape[1]), 255, dtype=img.dtype)
    parts: list[np.ndarray] = [white]
    spans, at = [], GAP
    for start, end in ranges:
        parts += [img[start:end], white]
        spans.append((at, start, end - start))
        at += end - start + GAP
    return Bands(np.vstack(parts), tuple(spans))


def band_image(img: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """The page's bands around `boxes`, stacked top to bottom with white gaps."""
    return bands_of(img, boxes).image
