"""Writing letters to files, and whole scanner runs (separators, duplex blank backs) as one PDF."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from letterbridge.samples.degrade import blank_back, degrade_page
from letterbridge.samples.letter import SampleLetter
from ocr.separator import separator_sheet_image

DPI = 300.0
FORMATS = ("pdf", "png", "jpeg", "tiff")


def _pil(pages: list[np.ndarray]) -> list[Image.Image]:
    return [Image.fromarray(p) for p in pages]


def _write_pdf(pages: list[np.ndarray], path: Path, *, quality: int = 75) -> None:
    # Pillow stores grayscale pages as JPEG streams, like a scanner's PDF; at 300 DPI each
    # page's size in points comes out as the paper size.
    images = _pil(pages)
    images[0].save(
        path, "PDF", save_all=True, append_images=images[1:], resolution=DPI, quality=quality
    )


def truth_path(path: Path, truth_dir: Path | None = None) -> Path:
    path = Path(path)
    return (Path(truth_dir) if truth_dir else path.parent) / f"{path.name}.truth.json"


def write_letter(
    letter: SampleLetter, path: Path, fmt: str = "pdf", *, truth_dir: Path | None = None
) -> Path:
    """Write the scanned pages and `<path>.truth.json` (in `truth_dir` if given); returns the file.

    pdf: one image page per scanned page, 300 DPI. tiff: one multi-page file.
    png/jpeg: one file per page, named `<stem>-<n>.<ext>` (n from 1, the envelope is 1) next to
    `path`; the first is returned and the truth is named after `path` itself.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files: list[Path]
    if fmt == "pdf":
        _write_pdf(letter.pages, path)
        files = [path]
    elif fmt == "tiff":
        images = _pil(letter.pages)
        images[0].save(
            path,
            "TIFF",
            save_all=True,
            append_images=images[1:],
            compression="tiff_deflate",
            dpi=(DPI, DPI),
        )
        files = [path]
    else:
        ext = ".png" if fmt == "png" else ".jpg"
        files = []
        for n, page in enumerate(letter.pages, start=1):
            out = path.with_name(f"{path.stem}-{n}{ext}")
            if fmt == "png":
                Image.fromarray(page).save(out, "PNG", dpi=(DPI, DPI), compress_level=1)
            else:
                Image.fromarray(page).save(out, "JPEG", dpi=(DPI, DPI), quality=88)
            files.append(out)
    letter.files = [f.name for f in files]
    tp = truth_path(path, truth_dir)
    tp.parent.mkdir(parents=True, exist_ok=True)
    tp.write_text(json.dumps(letter.ground_truth(), indent=1, ensure_ascii=False), encoding="utf-8")
    return files[0]


def _damage_qr(page: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smudge and tear the QR so no reader gets it: ink blots over two finder patterns, a strip
    of missing paper through the middle. The printed words stay readable."""
    out = page.copy()
    h, w = out.shape
    scale = 1000 / max(h, w)
    small = cv2.resize(out, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    found, points = cv2.QRCodeDetector().detect(small)
    if found and points is not None:
        corners = points.reshape(-1, 2) / scale  # top-left, top-right, bottom-right, bottom-left
    else:  # where the sheet puts it
        side = 1080
        x0, y0 = (w - side) / 2, 1250
        corners = np.array([[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]])
    side = float(np.linalg.norm(corners[1] - corners[0]))
    for k in (0, 1):  # two of the three finder patterns
        cx, cy = corners[k] + (corners[2 if k == 0 else 3] - corners[k]) * 0.14
        cv2.circle(out, (int(cx), int(cy)), int(side * 0.16), int(rng.integers(40, 80)), -1)
    mid = corners.mean(axis=0)
    y = int(mid[1] + rng.uniform(-0.1, 0.1) * side)
    xs = corners[:, 0]
    out[
        y - int(side * 0.05) : y + int(side * 0.05),
        max(0, int(xs.min()) - 30) : min(w, int(xs.max()) + 30),
    ] = int(np.median(out))
    return out


def make_scanner_run(
    letters: list[SampleLetter],
    *,
    separators: bool = True,
    duplex_blanks: bool = False,
    unreadable_separator_at: int | None = None,
    separator_before_first: bool = True,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[list[int]]]:
    """The pages of one scanner run, and for each letter the 1-based run pages that are its own.

    A letter's indices are its envelope and letter pages only; separator sheets and blank
    backs are in the run but belong to no letter. `unreadable_separator_at` is the 0-based
    index of the letter whose separator gets a damaged QR. With `duplex_blanks` every sheet
    (separators too) is followed by its blank back.
    """
    rng = np.random.default_rng(seed)
    sheet = separator_sheet_image(300)
    pages: list[np.ndarray] = []
    indices: list[list[int]] = []

    def add(page: np.ndarray) -> int:
        pages.append(page)
        if duplex_blanks:
            pages.append(blank_back(page.shape, rng, front=page))
        return len(pages) - (1 if duplex_blanks else 0)

    if unreadable_separator_at is not None:
        if not separators:
            raise ValueError("unreadable_separator_at needs separators=True")
        if unreadable_separator_at == 0 and not separator_before_first:
            raise ValueError("the first letter has no separator to damage")
        if not 0 <= unreadable_separator_at < len(letters):
            raise ValueError("unreadable_separator_at is not a letter index")
    for i, letter in enumerate(letters):
        if separators and (i > 0 or separator_before_first):
            sep, _ = degrade_page(sheet, mode="scan", rng=rng)
            if i == unreadable_separator_at:
                sep = _damage_qr(sep, rng)
            add(sep)
        indices.append([add(p) for p in letter.pages])
    return pages, indices


def write_run(pages: list[np.ndarray], path: Path) -> Path:
    """A scanner run as one multi-page PDF (300 DPI image pages)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_pdf(pages, path)
    return path
