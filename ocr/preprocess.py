"""Make a raw page image readable: upright, straight, cropped, evenly lit; plus Tesseract's copy.

Every estimate (orientation, skew angle, paper edges, background light, blankness) is made on
a downscaled copy so that preprocessing stays a small fraction of Tesseract's own time.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr import tesseract

# Pages are prepared one per core, each beside its own Tesseract: OpenCV's worker threads would
# only fight those for the same cores (measured: 30% more CPU for the same prepare()).
cv2.setNumThreads(1)

WORK_WIDTH = 640  # pixels wide of the copy the estimates are made on (~75 DPI for a letter)
MAX_SKEW = 6.0  # degrees; beyond this a page is treated as straight (it is rare and costly)


@dataclass
class PreprocessOptions:
    orient: bool = True
    deskew: bool = True
    crop: bool = True
    even_light: bool = True
    remove_lines: bool = True
    denoise: bool = False
    binarise: bool = True


@dataclass
class Prepared:
    image: np.ndarray  # what a person is shown (and what redactions are burned into)
    ocr_image: np.ndarray  # same geometry as `image`; what Tesseract reads
    rotation: int  # degrees clockwise applied (0/90/180/270)
    skew: float  # degrees of deskew applied (positive = rotated counter-clockwise)
    blank: bool
    timings: dict[str, float] = field(default_factory=dict)
    # How the rotation was decided: "ink", "osd", "unsure" (upright or upside down, the caller
    # should check, see ocr.pipeline.read_page) or "" (not looked at).
    orientation: str = ""


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + (now - self._last)
        self._last = now


def _small(img: np.ndarray, width: int = WORK_WIDTH) -> tuple[np.ndarray, float]:
    """A copy about `width` pixels wide, and the factor from full size to it.

    The factor is 1/n for a whole n: OpenCV's area resampling is ~15× faster then.
    """
    w = img.shape[1]
    n = round(w / width)
    if n <= 1:
        return img, 1.0
    return cv2.resize(img, None, fx=1.0 / n, fy=1.0 / n, interpolation=cv2.INTER_AREA), 1.0 / n


def _background(small: np.ndarray) -> np.ndarray:
    """The paper's brightness everywhere (ink removed by a dilation, then smoothed)."""
    k = max(3, (min(small.shape[:2]) // 40) | 1)
    bg = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return cv2.blur(bg, (k * 2 + 1, k * 2 + 1))


def _ink_mask(small: np.ndarray, contrast: int | None = 50) -> np.ndarray:
    """Marks at least `contrast` grey levels darker than the local paper colour (uint8 0/255).

    contrast=None: half as dark as the darkest writing, so that pale rules and show-through
    stay out however faint or dark the pen is.
    """
    bg = _background(small).astype(np.int16)
    diff = bg - small.astype(np.int16)
    if contrast is None:
        contrast = int(np.clip(0.5 * np.percentile(diff[::3, ::3], 99.5), 40, 100))
    return (diff > contrast).astype(np.uint8) * 255


def _despeckle(ink: np.ndarray, min_area: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return (keep[labels]).astype(np.uint8) * 255


# --- blank pages ---------------------------------------------------------------------------

# A page is blank when its ink-sized marks cover less than this share of it. Two short
# handwritten lines cover ~0.001 of a Letter page; dust, specks and faint bleed-through 0.
BLANK_MAX_INK_SHARE = 0.0001
# Pixels at WORK_WIDTH (~75 DPI): a letter of text is a mark this big or bigger once shrunk
# (below), a speck of dust is not.
BLANK_MIN_MARK_AREA = 12


def _darkest_small(img: np.ndarray, width: int = WORK_WIDTH) -> np.ndarray:
    """A copy about `width` pixels wide in which each pixel is the darkest of the block it
    stands for. Averaging (`_small`) fades a hairline stroke into the paper: a typewriter face
    on an envelope shrank to marks too pale to count, and the envelope was taken for blank."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    n = round(img.shape[1] / width)
    if n <= 1:
        return img
    h, w = (img.shape[0] // n) * n, (img.shape[1] // n) * n
    # The minimum over each n×n window starting at a pixel (OpenCV's erosion, anchored at the
    # window's corner), kept at every n-th pixel: each block's darkest pixel. Every kept window
    # lies inside the image, so no border value enters. 4 ms a 300 DPI page against 65 ms for
    # numpy's min over a reshaped view, with the same result.
    darkest = cv2.erode(img[:h, :w], np.ones((n, n), np.uint8), anchor=(0, 0),
                        borderType=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(darkest[::n, ::n])


def is_blank(img: np.ndarray) -> bool:
    """True for an empty page (off-white paper, faint noise, dust, bleed-through from the other
    side). Thin strokes count as much as bold ones: the darkest pixel of each block is kept."""
    small = cv2.GaussianBlur(_darkest_small(img), (3, 3), 0)
    ink = _ink_mask(small)
    # Ignore a frame around the edge: scanner shadows, paper edges and punch holes are not writing.
    h, w = ink.shape
    my, mx = h // 30, w // 30
    ink = ink[my : h - my, mx : w - mx]
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    share = float(areas[areas >= BLANK_MIN_MARK_AREA].sum()) / ink.size
    return share < BLANK_MAX_INK_SHARE


# --- crop ----------------------------------------------------------------------------------


def find_paper(img: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the paper on a darker scanner background, or None."""
    small, factor = _small(img, 400)
    _, bright = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # The paper must be clearly brighter than what surrounds it.
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    biggest = max(contours, key=cv2.contourArea)
    x, y, w, h = cv2.boundingRect(biggest)
    sh, sw = small.shape
    if w * h < 0.3 * sw * sh or w * h > 0.97 * sw * sh:
        return None  # no background to speak of, or the "paper" is a blob of something else
    outside = np.ones_like(small, dtype=bool)
    outside[y : y + h, x : x + w] = False
    if not outside.any() or small[outside].mean() > small[y : y + h, x : x + w].mean() - 40:
        return None
    # Cut a hair inside the paper's edge: a sliver of paper lost is harmless, a dark band is not.
    inv = 1.0 / factor
    pad = int(np.ceil(inv))
    height, width = img.shape[:2]
    return (
        min(width, int(np.ceil(x * inv)) + pad),
        min(height, int(np.ceil(y * inv)) + pad),
        max(0, int((x + w) * inv) - pad),
        max(0, int((y + h) * inv) - pad),
    )


# --- lighting ------------------------------------------------------------------------------


def even_light(img: np.ndarray) -> np.ndarray:
    """Divide by the estimated paper brightness: shadows and off-white paper become white."""
    small, _ = _small(img, 320)
    bg = _background(small)
    bg = cv2.resize(bg, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = cv2.divide(img, bg, scale=255)
    return out


# --- orientation and skew ------------------------------------------------------------------


def _ink_points(ink: np.ndarray, limit: int = 40_000) -> np.ndarray:
    ys, xs = np.nonzero(ink)
    pts = np.stack([xs, ys], axis=1).astype(np.float32)
    if len(pts) > limit:  # a fixed sample: the estimate needs the shape, not every pixel
        pts = pts[np.random.default_rng(0).choice(len(pts), limit, replace=False)]
    return pts


def _profile_score(
    points: np.ndarray, angles_deg: np.ndarray, height: int, *, bin_px: int = 1
) -> np.ndarray:
    """For each angle, how sharply ink rows stand out when the page is turned by that angle."""
    if len(points) == 0:
        return np.zeros(len(angles_deg))
    x = points[:, 0] - points[:, 0].mean()
    y = points[:, 1]
    scores = np.empty(len(angles_deg))
    rad = np.deg2rad(angles_deg)
    size = (height * 2 + 4) // bin_px + 1
    for i, a in enumerate(rad):
        rows = ((y * np.cos(a) + x * np.sin(a) + (height + 0.5)) / bin_px).astype(np.int64)
        hist = np.bincount(np.clip(rows, 0, size - 1), minlength=size).astype(np.float64)
        scores[i] = np.sum(np.diff(hist) ** 2)
    return scores


def _best_angle(pts: np.ndarray, height: int) -> tuple[float, float]:
    """(angle, sharpness) of the text lines, coarse to fine.

    A line 1 px high and 800 px long (a notebook rule) stands out over less than 0.1°, so the
    coarse steps look at the profile in wide bins, where every line stands out over ~0.5°.
    """
    best, score = 0.0, 0.0
    for step, reach, bin_px in ((0.5, MAX_SKEW, 8), (0.1, 0.5, 2), (0.02, 0.1, 1)):
        lo, hi = max(-MAX_SKEW, best - reach), min(MAX_SKEW, best + reach)
        angles = np.arange(lo, hi + step / 2, step)
        scores = _profile_score(pts, angles, height, bin_px=bin_px)
        i = int(np.argmax(scores))
        best, score = float(angles[i]), float(scores[i])
    return round(best, 2), score


def estimate_skew(img: np.ndarray) -> float:
    """Angle in degrees that the text lines are rotated counter-clockwise (image y down)."""
    small, _ = _small(img, 1000)
    pts = _ink_points(_ink_mask(small))
    if len(pts) < 200:
        return 0.0
    return _best_angle(pts, small.shape[0])[0]


def rotate_right_angle(img: np.ndarray, clockwise: int) -> np.ndarray:
    if clockwise % 360 == 90:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if clockwise % 360 == 180:
        return cv2.rotate(img, cv2.ROTATE_180)
    if clockwise % 360 == 270:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return img


def rotate_small_angle(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre, same size, uncovered corners white."""
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(
        img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )


def _without_rules(ink: np.ndarray) -> np.ndarray:
    """The (straightened) ink mask without horizontal and vertical rules: runs longer than about
    1/5 inch, which writing seldom makes; notebook lines break into such pieces."""
    length = max(12, ink.shape[1] // 40)
    across = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1))
    down = cv2.getStructuringElement(cv2.MORPH_RECT, (1, length))
    rules = cv2.bitwise_or(cv2.morphologyEx(ink, cv2.MORPH_OPEN, across),
                           cv2.morphologyEx(ink, cv2.MORPH_OPEN, down))
    return cv2.subtract(ink, rules)


def _line_bands(ink: np.ndarray, *, floor: float = 0.05) -> list[tuple[int, int]]:
    """Row ranges of text lines: runs of rows with more than `floor` of the fullest row's ink."""
    profile = ink.sum(axis=1, dtype=np.float64) / 255.0
    if not profile.any():
        return []
    on = profile > max(1.0, floor * float(profile.max()))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 4]


def _core_band(band: np.ndarray) -> tuple[int, int] | None:
    """(first, last) row of the x-height band of one text line's row profile.

    It starts where the profile rises most and ends where it falls most, and is at least 40%
    of the line's height (so that one thick stroke is not taken for the band).
    """
    n = len(band)
    min_height = max(2, int(0.4 * n))
    if n < min_height + 2:
        return None
    step = np.diff(band)  # step[k] = band[k + 1] - band[k]
    rise = step[:, None]  # band starts at k + 1
    fall = step[None, :]  # band ends at j
    i, j = np.indices((len(step), len(step)))
    gain = np.where(j - (i + 1) >= min_height, rise - fall, -np.inf)
    k, last = np.unravel_index(int(np.argmax(gain)), gain.shape)
    if not np.isfinite(gain[k, last]):
        return None
    return int(k) + 1, int(last)


def _ascender_score(ink: np.ndarray) -> float | None:
    """log(marks reaching above the x-height band / marks reaching below the baseline).

    Latin lowercase has far more ascenders (b d f h k l t, capitals, accents) than descenders
    (g j p q y): positive means upright, negative upside down. A mark (connected component)
    counts when it reaches beyond its line's core band by a third of the band's height, so
    the blurred ends of strokes do not count. In each line the band starts where the row
    profile rises most and ends where it falls most (measured on vertical strips, so that a
    hand-written line's slope does not blur it). None when too few marks reach out to tell:
    all capitals, a handful of words.
    """
    strip = max(1, ink.shape[1] // 4)
    cores: list[list[tuple[int, int, int, int]]] = []  # per strip: (y0, y1, core top, core bottom)
    for x0 in range(0, ink.shape[1], strip):
        part = ink[:, x0 : x0 + strip]
        found = []
        for y0, y1 in _line_bands(part, floor=0.0):
            start = max(0, y0 - 1)
            band = part[start : y1 + 1].sum(axis=1, dtype=np.float64)
            core = _core_band(band)
            if core is not None:
                found.append((y0, y1, start + core[0], start + core[1]))
        cores.append(found)
    heights = [c[3] - c[2] for found in cores for c in found]
    if not heights:
        return None
    typical = float(np.median(heights))
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    up = down = counted = 0
    for x, y, w, h, _area in stats[1:]:
        cx, cy = x + w // 2, y + h // 2
        for y0, y1, top, bottom in cores[min(len(cores) - 1, cx // strip)]:
            if not y0 <= cy < y1:
                continue
            height = bottom - top
            if not 0.6 * typical <= height <= 1.6 * typical:
                break  # a stamp, a drawing, two lines run together: not a text line
            counted += 1
            reach = max(2.0, height / 3)
            up += (top - y) > reach
            down += (y + h - 1 - bottom) > reach
            break
    if up + down < max(8, 0.05 * counted):
        return None
    return float(np.log((up + 1.0) / (down + 1.0)))


def _margin_score(ink: np.ndarray) -> float | None:
    """Share of lines starting at the common left edge minus share ending at a common right edge.

    Letters are written flush left and ragged right: positive means upright. None with
    fewer than four lines.
    """
    width = ink.shape[1]
    spans = []
    for y0, y1 in _line_bands(ink):
        cols = np.flatnonzero(ink[y0:y1].any(axis=0))
        if len(cols):
            spans.append((cols[0], cols[-1]))
    # Only full lines: a date or a signature placed on the right says nothing about the margin.
    longest = max((b - a for a, b in spans), default=0)
    spans = [(a, b) for a, b in spans if b - a >= 0.4 * longest]
    if len(spans) < 4:
        return None
    starts = [a for a, _ in spans]
    ends = [b for _, b in spans]
    tol = width / 60
    left = float(np.mean(np.abs(np.array(starts) - np.median(starts)) < tol))
    right = float(np.mean(np.abs(np.array(ends) - np.median(ends)) < tol))
    return left - right


ORIENT_ASCENDER_MIN = 0.4  # |log ratio| that decides upright vs upside down on its own
ORIENT_MARGIN_MIN = 0.3
ORIENT_MIN_LINES = 10
ORIENT_ROW_GAPS_MIN = 0.5  # share of empty rows between text lines
ORIENT_GAPS_LEAD = 0.25  # by how much the rows' share must exceed the columns'


@dataclass
class Geometry:
    rotation: int | None  # clockwise right-angle turn that makes the page upright; None: unsure
    skew: float  # counter-clockwise angle of the text lines once turned (degrees)
    # When rotation is None: the likelier turn; the other candidate is half a turn from it.
    guess: int | None = None


def _gap_share(pts: np.ndarray, angle: float, height: int) -> float:
    """Share of near-empty rows between the first and last ink row, at `angle`.

    Between text lines there are empty rows; across a text line there are hardly any empty
    columns. Long rules only add spikes, so they do not fill the gaps.
    """
    x = pts[:, 0] - pts[:, 0].mean()
    a = np.deg2rad(angle)
    rows = (pts[:, 1] * np.cos(a) + x * np.sin(a) + (height + 0.5)).astype(np.int64)
    hist = np.bincount(np.clip(rows, 0, 2 * height + 3), minlength=2 * height + 4)
    used = np.flatnonzero(hist)
    inner = hist[used[0] : used[-1] + 1].astype(np.float64)
    # Between hand-written lines ascenders and descenders reach into the gap: "empty" is a
    # quarter of a full row.
    floor = 0.25 * float(np.percentile(inner[inner > 0], 90))
    return float(np.mean(inner < floor))


def _line_direction(pts: np.ndarray, angle: float, height: int, width: int) -> int | None:
    """0 when the ink has level text lines at `angle`, else None.

    Measured on letter pages: 0.56–0.89 of the rows are (nearly) empty, 0.01–0.41 of the
    columns; envelopes have gaps both ways (columns 0.30–0.65).
    """
    row_gaps = _gap_share(pts, angle, height)
    if row_gaps < ORIENT_ROW_GAPS_MIN:
        return None
    # Columns are tilted by the same angle as the rows (x and y swapped, the sign flips).
    col_gaps = _gap_share(np.ascontiguousarray(pts[:, ::-1]), -angle, width)
    return 0 if row_gaps - col_gaps >= ORIENT_GAPS_LEAD else None


def estimate_geometry(img: np.ndarray, *, orient: bool = True) -> Geometry:
    """Orientation and skew of a page from its ink alone (~60 ms).

    On a ~100 DPI copy the row profile of text is sharpest at the skew angle. A letter's rows
    have gaps between text lines that its columns lack (an envelope's sparse text has gaps
    both ways): that tells level lines (0/180) from sideways ones (90/270). On the turned
    and straightened ~150 DPI copy, ascenders against descenders and a flush left margin
    against a ragged right one tell which way up it is. When they cannot tell, `guess` is
    the likelier of the two turns (the reading settles it); when even the lines' direction is
    unclear, both are None and Tesseract's OSD is for it.
    """
    small, _ = _small(img, 1000)
    ink = _ink_mask(small)
    pts = _ink_points(ink)
    if len(pts) < 300:
        return Geometry(None if orient else 0, 0.0)
    angle, _ = _best_angle(pts, ink.shape[0])
    if not orient:
        return Geometry(0, angle)
    base = _line_direction(pts, angle, ink.shape[0], ink.shape[1])
    if base is None:
        turned = cv2.rotate(ink, cv2.ROTATE_90_CLOCKWISE)
        turned_pts = _ink_points(turned)
        turned_angle, _ = _best_angle(turned_pts, turned.shape[0])
        if _line_direction(turned_pts, turned_angle, *turned.shape) != 0:
            return Geometry(None, angle)
        base, angle = 90, turned_angle

    fine, _ = _small(img, 1500)
    fine = rotate_small_angle(rotate_right_angle(fine, base), -angle)
    # Only clearly dark marks: pale notebook rules and show-through would pass for descenders.
    text = _without_rules(_despeckle(_ink_mask(fine, contrast=None), min_area=12))
    ascender = _ascender_score(text)
    margin = _margin_score(text)
    votes = []
    if ascender is not None and abs(ascender) >= ORIENT_ASCENDER_MIN:
        votes.append(ascender > 0)
    if margin is not None and abs(margin) >= ORIENT_MARGIN_MIN:
        votes.append(margin > 0)
    # A half turn does not change the tilt of the lines: the skew stays the same.
    flipped = (base + 180) % 360
    if votes and len(set(votes)) == 1 and len(_line_bands(text)) >= ORIENT_MIN_LINES:
        return Geometry(base if votes[0] else flipped, angle)
    # Too few lines for the statistics, or cues that disagree: a guess for the reading to check.
    lean = (ascender or 0.0) + (margin or 0.0)
    return Geometry(None, angle, guess=base if lean >= 0 else flipped)


def _osd(img: np.ndarray) -> int:
    """Tesseract's OSD on a half-size copy (~1 s): for pages whose ink leaves even the
    direction of the lines open (envelopes, sparse notes)."""
    half = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return tesseract.detect_orientation(half)


# --- Tesseract's copy ----------------------------------------------------------------------


def rule_mask(gray: np.ndarray) -> np.ndarray:
    """Full-size mask (0/255) of long horizontal and vertical rules on a straightened page."""
    half, factor = _small(gray, gray.shape[1] // 2)
    marks = (half < 230).astype(np.uint8) * 255  # anything visibly darker than white paper
    h, w = marks.shape
    rules = cv2.bitwise_or(
        cv2.morphologyEx(marks, cv2.MORPH_OPEN,
                         cv2.getStructuringElement(cv2.MORPH_RECT, (max(20, w // 10), 1))),
        cv2.morphologyEx(marks, cv2.MORPH_OPEN,
                         cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(20, h // 10)))),
    )
    if factor != 1.0:
        rules = cv2.resize(rules, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_NEAREST)
    # Take in the blurred edges of each rule too.
    return cv2.dilate(rules, np.ones((3, 3), np.uint8))


def remove_lines(gray: np.ndarray) -> np.ndarray:
    """Whiten notebook rules and margin lines, keeping the strokes that cross them.

    Pen strokes are usually darker than printed rules: under a rule only pixels no darker than
    the rule itself are whitened, so a letter crossing it stays whole.
    """
    rules = rule_mask(gray)
    sample = gray[::4, ::4][rules[::4, ::4] > 0]
    if sample.size == 0:
        return gray
    rule_level = float(np.percentile(sample, 30))  # the rule's own darkness; strokes are darker
    ink_level = float(np.percentile(gray[::4, ::4], 0.5))
    if rule_level - ink_level > 60:
        _, light = cv2.threshold(gray, rule_level - 26, 255, cv2.THRESH_BINARY)
        rules = cv2.bitwise_and(rules, light)
    # else the rules are as dark as the writing: whiten them whole.
    return cv2.bitwise_or(gray, rules)


def denoise(gray: np.ndarray) -> np.ndarray:
    return cv2.medianBlur(gray, 3)


def binarise(gray: np.ndarray) -> np.ndarray:
    _, out = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


# --- the whole step ------------------------------------------------------------------------


def prepare(
    img: np.ndarray, options: PreprocessOptions | None = None, *, osd: bool = True
) -> Prepared:
    """Raw grayscale page → Prepared (person's image, Tesseract's image, what was done).

    osd=False: when the ink sees the direction of the lines but cannot tell which way up
    they are, turn the page by its best guess and say so (orientation "unsure") instead of
    asking Tesseract's OSD (~1 s); read_page checks the guess with the reading it makes anyway.
    """
    opts = options or PreprocessOptions()
    clock = _Clock()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    page = img

    if opts.crop:
        box = find_paper(page)
        if box is not None:
            x0, y0, x1, y1 = box
            page = page[y0:y1, x0:x1]
        clock.lap("crop")

    blank = is_blank(page)
    clock.lap("blank")
    if blank:
        return Prepared(page, page, 0, 0.0, True, clock.timings)

    if opts.even_light:
        page = even_light(page)
        clock.lap("even_light")

    rotation, skew, orientation = 0, 0.0, ""
    if opts.orient or opts.deskew:
        geometry = estimate_geometry(page, orient=opts.orient)
        clock.lap("geometry")
        if geometry.rotation is None and geometry.guess is not None and not osd:
            # The guess or half a turn from it: read_page settles it with the reading.
            orientation = "unsure"
            rotation = geometry.guess
            page = rotate_right_angle(page, rotation)
        elif geometry.rotation is None:
            orientation = "osd"
            # The ink could not tell; ask Tesseract's OSD and measure the skew again upright.
            rotation = _osd(page)
            page = rotate_right_angle(page, rotation)
            clock.lap("orient_osd")
            if opts.deskew:
                geometry = estimate_geometry(page, orient=False)
                clock.lap("geometry")
        else:
            orientation = "ink" if opts.orient else ""
            rotation = geometry.rotation or 0
            page = rotate_right_angle(page, rotation)
        if opts.deskew and abs(geometry.skew) >= 0.05:
            skew = -geometry.skew
            page = rotate_small_angle(page, skew)
        clock.lap("rotate")

    return Prepared(
        image=np.ascontiguousarray(page),
        ocr_image=for_ocr(page, opts, clock),
        rotation=rotation,
        skew=skew,
        blank=False,
        timings=clock.timings,
        orientation=orientation,
    )


def for_ocr(page: np.ndarray, options: PreprocessOptions | None = None,
            clock: _Clock | None = None) -> np.ndarray:
    """What the engines read (`Prepared.ocr_image`), made from what a person is shown
    (`Prepared.image`, upright and straight): the same pixels `prepare` gives, so a stored
    clean image can be read again later without preparing the page again."""
    opts = options or PreprocessOptions()
    clock = clock or _Clock()
    ocr_img = page
    if opts.remove_lines:
        ocr_img = remove_lines(ocr_img)
        clock.lap("remove_lines")
    if opts.denoise:
        ocr_img = denoise(ocr_img)
        clock.lap("denoise")
    if opts.binarise:
        ocr_img = binarise(ocr_img)
        clock.lap("binarise")
    return np.ascontiguousarray(ocr_img)


def turned_over(prepared: Prepared) -> Prepared:
    """The same prepared page turned upside down (both images, the rotation it records)."""
    return dataclasses.replace(
        prepared,
        image=cv2.rotate(prepared.image, cv2.ROTATE_180),
        ocr_image=cv2.rotate(prepared.ocr_image, cv2.ROTATE_180),
        rotation=(prepared.rotation + 180) % 360,
    )
