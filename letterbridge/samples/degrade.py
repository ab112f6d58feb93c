"""Makes a clean page look scanned: skew, blur, noise, paper tone, uneven light, JPEG, upside down.

A page's transform is recorded as {"angle": degrees counter-clockwise, "flipped": bool}; the
flip (page fed upside down) happens first, then the skew about the page centre.
`map_box` carries a clean-page box through the same transform.
"""

from __future__ import annotations

import cv2
import numpy as np

MODES = ("none", "scan", "hard")


def _light_field(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """A smooth uint8 gain field in [255 * (1 - strength), 255]: a lamp brighter on one side."""
    gh, gw = 8, 8
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx / (gw - 1) + np.sin(angle) * yy / (gh - 1)
    ramp = (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    blob = rng.standard_normal((gh, gw)).astype(np.float32) * 0.25
    small = 255.0 * (1.0 - strength * np.clip(0.75 * ramp + blob, 0, 1))
    return cv2.resize(small.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)


def _add_noise(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian grain, added with saturation. One random 512x512 tile at a random offset
    looks as random as full-page noise and costs a tenth as much."""
    tile = rng.standard_normal((512, 512), dtype=np.float32) * sigma
    pos = np.clip(tile, 0, 255).astype(np.uint8)
    neg = np.clip(-tile, 0, 255).astype(np.uint8)
    h, w = img.shape
    oy, ox = int(rng.integers(0, 512)), int(rng.integers(0, 512))
    reps = (h // 512 + 2, w // 512 + 2)
    pos_big = np.tile(pos, reps)[oy : oy + h, ox : ox + w]
    neg_big = np.tile(neg, reps)[oy : oy + h, ox : ox + w]
    return cv2.subtract(cv2.add(img, pos_big), neg_big)


def rotate(img: np.ndarray, angle: float, border: int) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    return cv2.warpAffine(
        img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border
    )


def _tone(img: np.ndarray, paper_level: float, ink_floor: float) -> np.ndarray:
    """White becomes the paper's tone, black the ink's (never quite black after a scan)."""
    lut = ink_floor + (paper_level - ink_floor) * np.arange(256, dtype=np.float32) / 255.0
    return cv2.LUT(img, np.clip(lut, 0, 255).astype(np.uint8))


def degrade_page(
    clean: np.ndarray,
    *,
    mode: str,
    rng: np.random.Generator,
    allow_flip: bool = False,
    paper: int | None = None,
) -> tuple[np.ndarray, dict]:
    """The page as a scanner would deliver it, and the geometric transform applied."""
    if mode not in MODES:
        raise ValueError(f"degrade must be one of {MODES}, not {mode!r}")
    if mode == "none":
        return clean.copy(), {"angle": 0.0, "flipped": False}
    hard = mode == "hard"
    h, w = clean.shape
    img = clean
    flipped = bool(allow_flip and hard and rng.random() < 0.15)
    if flipped:
        img = np.ascontiguousarray(img[::-1, ::-1])
    sigma = rng.uniform(1.0, 1.5) if hard else rng.uniform(0.5, 0.9)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    angle = float(rng.uniform(-4.0, 4.0)) if not hard else float(rng.uniform(-5.0, 5.0))
    img = rotate(img, angle, border=255)  # the scanner lid is white too

    paper_level = paper if paper is not None else int(rng.integers(226, 248))
    img = _tone(img, paper_level, float(rng.uniform(12, 40)))
    light = _light_field(rng, h, w, float(rng.uniform(0.03, 0.08 if not hard else 0.15)))
    img = cv2.multiply(img, light, scale=1.0 / 255.0)
    img = _add_noise(img, rng, float(rng.uniform(5.0, 8.0) if hard else rng.uniform(2.0, 4.0)))
    if hard:
        n = int(rng.integers(30, 120))  # dust specks
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        for y, x in zip(ys, xs, strict=True):
            cv2.circle(
                img, (int(x), int(y)), int(rng.integers(1, 4)), int(rng.integers(40, 140)), -1
            )
        quality = int(rng.integers(25, 46))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return img, {"angle": round(angle, 4), "flipped": flipped}


def map_box(
    box: tuple[int, int, int, int], transform: dict, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A clean-page box as an axis-aligned box on the scanned page (same size as the clean one)."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
    if transform.get("flipped"):
        pts = np.stack([w - pts[:, 0], h - pts[:, 1]], axis=1)
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(transform.get("angle", 0.0)), 1.0)
    pts = pts @ m[:, :2].T + m[:, 2]
    return (
        max(0, int(np.floor(pts[:, 0].min()))),
        max(0, int(np.floor(pts[:, 1].min()))),
        min(w, int(np.ceil(pts[:, 0].max()))),
        min(h, int(np.ceil(pts[:, 1].max()))),
    )


def blank_back(
    shape: tuple[int, int], rng: np.random.Generator, *, front: np.ndarray | None = None
) -> np.ndarray:
    """The empty back of a duplex-scanned sheet: off-white, faint noise, faint show-through."""
    h, w = shape
    img = np.full((h, w), int(rng.integers(228, 248)), dtype=np.uint8)
    if front is not None and front.shape == (h, w):
        # the front's ink, mirrored and heavily blurred, a few grey levels deep at most
        small = cv2.resize(front[:, ::-1], (w // 8, h // 8), interpolation=cv2.INTER_AREA)
        ink = (255.0 - cv2.GaussianBlur(small, (0, 0), 1.5)) * float(rng.uniform(0.01, 0.03))
        ink_small = np.clip(np.rint(ink), 0, 255).astype(np.uint8)
        img = cv2.subtract(img, cv2.resize(ink_small, (w, h), interpolation=cv2.INTER_LINEAR))
    img = cv2.multiply(
        img, _light_field(rng, h, w, float(rng.uniform(0.02, 0.06))), scale=1.0 / 255.0
    )
    return _add_noise(img, rng, float(rng.uniform(1.5, 3.0)))
