"""Turn an input file (PDF, TIFF, PNG, JPEG) into grayscale 300 DPI page images, one at a time.

Poppler is called from this module only. Every failure is an `ocr.errors` type whose `reason`
is shown to the mailroom for the quarantined file.
"""

from __future__ import annotations

import re
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from ocr.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    FileTooLarge,
    ImageTooLarge,
    TooManyPages,
    UnsupportedFormat,
)

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_PAGES = 1000
DEFAULT_MAX_PIXELS = 120_000_000
POPPLER_TIMEOUT = 120  # seconds for one pdfinfo / one page render

TARGET_DPI = 300
# An image whose effective resolution is below this is upscaled to TARGET_DPI; above
# MAX_DPI it is downscaled (Tesseract's time grows with pixels, not with accuracy).
MIN_DPI = 200
MAX_DPI = 450
# When an image has no trustworthy DPI, we assume its long side is a US-Letter page.
ASSUMED_LONG_SIDE_INCHES = 11.0

# We check sizes ourselves before decoding; PIL's own bomb guard stays as a backstop.
Image.MAX_IMAGE_PIXELS = 400_000_000

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)


def sniff_format(path: Path) -> str:
    """Return "pdf", "tiff", "png" or "jpeg" from the file's first bytes (never its name)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorruptFile(f"the file cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise EmptyFile("the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise FileTooLarge(
            f"the file is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES / 2**20:.0f} MB"
        )
    with path.open("rb") as fh:
        head = fh.read(1024)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    # The PDF header may follow a little junk (the spec allows it within the first 1 KB).
    if b"%PDF-" in head:
        return "pdf"
    if not head.strip(b"\x00 \t\r\n"):
        raise EmptyFile("the file holds only blank bytes")
    described = "a text file" if _looks_like_text(head) else "an unknown binary format"
    raise UnsupportedFormat(
        f"the file is {described}, not a PDF, TIFF, PNG or JPEG (whatever its name says)"
    )


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def count_pages(path: Path) -> int:
    """Number of pages. Raises CorruptFile, EncryptedPdf, TooManyPages and sniff_format's errors."""
    path = Path(path)
    kind = sniff_format(path)
    if kind == "pdf":
        pages = len(_pdf_page_sizes(path))
    elif kind == "tiff":
        with _open_image(path) as im:
            pages = getattr(im, "n_frames", 1)
    else:
        with _open_image(path):
            pages = 1
    if pages > MAX_PAGES:
        raise TooManyPages(f"the file has {pages} pages; the limit is {MAX_PAGES}")
    if pages < 1:
        raise CorruptFile("the file has no pages")
    return pages


def iter_pages(
    path: Path, *, dpi: int = TARGET_DPI, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[np.ndarray]:
    """Yield each page as a grayscale uint8 array at about `dpi`, decoding one page at a time."""
    path = Path(path)
    kind = sniff_format(path)
    if kind == "pdf":
        yield from _iter_pdf(path, dpi=dpi, max_pixels=max_pixels)
    else:
        count_pages(path)  # raises TooManyPages before any decoding
        yield from _iter_image(path, dpi=dpi, max_pixels=max_pixels)


# --- PDF ------------------------------------------------------------------------------------


def _run_poppler(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(args, capture_output=True, timeout=POPPLER_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CorruptFile(f"reading the PDF took longer than {POPPLER_TIMEOUT} s") from exc


_PAGE_SIZE = re.compile(rb"^Page\s+(\d+) size:\s+([\d.]+) x ([\d.]+) pts", re.MULTILINE)
_PAGE_ROT = re.compile(rb"^Page\s+(\d+) rot:\s+(\d+)", re.MULTILINE)


def _pdf_page_sizes(path: Path) -> list[tuple[float, float]]:
    """(width, height) in points of every page, rotation applied, checking the PDF is whole."""
    _check_pdf_complete(path)
    # -l 0 would be invalid; a huge last page number makes pdfinfo list every page.
    proc = _run_poppler(["pdfinfo", "-f", "1", "-l", str(MAX_PAGES + 1), str(path)])
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        if "Incorrect password" in err or "encrypted" in err.lower():
            raise EncryptedPdf("the PDF is password-protected; send it without a password")
        raise CorruptFile(f"the PDF cannot be read ({_first_line(err) or 'pdfinfo failed'})")
    out = proc.stdout
    rotations = {int(n): int(r) for n, r in _PAGE_ROT.findall(out)}
    sizes: list[tuple[float, float]] = []
    for n, w, h in _PAGE_SIZE.findall(out):
        width, height = float(w), float(h)
        if rotations.get(int(n), 0) % 180 == 90:
            width, height = height, width
        sizes.append((width, height))
    pages_line = re.search(rb"^Pages:\s+(\d+)", out, re.MULTILINE)
    total = int(pages_line.group(1)) if pages_line else len(sizes)
    if total > MAX_PAGES:
        raise TooManyPages(f"the file has {total} pages; the limit is {MAX_PAGES}")
    if total == 0 or not sizes:
        raise CorruptFile("the PDF has no pages")
    return sizes


def _check_pdf_complete(path: Path) -> None:
    # Poppler "repairs" a cut-off PDF silently and renders what it can; a letter with its
    # last pages missing must not look complete, so a PDF without its end marker is corrupt.
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - 2048))
        tail = fh.read()
    if b"%%EOF" not in tail:
        raise CorruptFile("the PDF is truncated (its end-of-file marker is missing)")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:200]
    return ""


def _iter_pdf(path: Path, *, dpi: int, max_pixels: int) -> Iterator[np.ndarray]:
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFInfoNotInstalledError, PDFPageCountError, PDFSyntaxError

    sizes = _pdf_page_sizes(path)
    for number, (w_pt, h_pt) in enumerate(sizes, start=1):
        pixels = (w_pt * dpi / 72.0) * (h_pt * dpi / 72.0)
        if pixels > max_pixels:
            raise ImageTooLarge(
                f"page {number} is {w_pt / 72:.0f}×{h_pt / 72:.0f} inches "
                f"({pixels / 1e6:.0f} megapixels at {dpi} DPI); the limit is "
                f"{max_pixels / 1e6:.0f} megapixels"
            )
        try:
            rendered = convert_from_path(
                str(path),
                dpi=dpi,
                first_page=number,
                last_page=number,
                grayscale=True,
                timeout=POPPLER_TIMEOUT,
            )
        except (PDFPageCountError, PDFSyntaxError, PDFInfoNotInstalledError) as exc:
            raise CorruptFile(f"page {number} of the PDF cannot be rendered ({exc})") from exc
        except subprocess.TimeoutExpired as exc:
            raise CorruptFile(f"page {number} took longer than {POPPLER_TIMEOUT} s") from exc
        if not rendered:
            raise CorruptFile(f"page {number} of the PDF cannot be rendered")
        image = rendered[0]
        yield np.asarray(image.convert("L"), dtype=np.uint8)
        image.close()


# --- TIFF / PNG / JPEG ----------------------------------------------------------------------


def _open_image(path: Path) -> Image.Image:
    """Open lazily (header only) and check every frame's size before anything is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(f"the image is too large to open safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(f"the image cannot be read ({exc})") from exc
    return im


def _check_pixels(width: int, height: int, max_pixels: int, where: str) -> None:
    if width <= 0 or height <= 0:
        raise CorruptFile(f"{where} has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{where} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels"
        )


def _iter_image(path: Path, *, dpi: int, max_pixels: int) -> Iterator[np.ndarray]:
    with _open_image(path) as im:
        frames = getattr(im, "n_frames", 1)
        for index in range(frames):
            where = "the image" if frames == 1 else f"page {index + 1} of the image"
            try:
                im.seek(index)
            except EOFError as exc:
                raise CorruptFile(f"{where} is missing (the file is truncated)") from exc
            _check_pixels(im.width, im.height, max_pixels, where)
            try:
                gray = _to_gray(im)
            except (OSError, SyntaxError, ValueError) as exc:
                raise CorruptFile(f"{where} cannot be decoded ({exc})") from exc
            yield _normalise_resolution(gray, _declared_dpi(im), dpi=dpi, max_pixels=max_pixels)


def _to_gray(im: Image.Image) -> np.ndarray:
    im.load()
    # Phones and some scanners store the page sideways and say so in the EXIF orientation tag.
    frame = ImageOps.exif_transpose(im) or im
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        frame = Image.alpha_composite(white, rgba)
    if frame.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(frame, dtype=np.float32)
        top = float(arr.max()) or 1.0
        return np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
    return np.asarray(frame.convert("L"), dtype=np.uint8)


def _declared_dpi(im: Image.Image) -> float | None:
    value = im.info.get("dpi")
    if not value:
        return None
    try:
        x = float(value[0])
    except (TypeError, ValueError, IndexError):
        return None
    return x if x > 1 else None


def effective_dpi(width: int, height: int, declared: float | None) -> float:
    """The resolution a page image really has, judged from its DPI metadata and pixel size.

    Cameras write 72 DPI into photos of any size, so a declared DPI is believed only when it
    makes the page a plausible paper size (4–17 inches on its long side).
    """
    long_side = max(width, height)
    if declared:
        inches = long_side / declared
        if 4.0 <= inches <= 17.0:
            return declared
    return long_side / ASSUMED_LONG_SIDE_INCHES


def _normalise_resolution(
    gray: np.ndarray, declared: float | None, *, dpi: int, max_pixels: int
) -> np.ndarray:
    h, w = gray.shape[:2]
    actual = effective_dpi(w, h, declared)
    if MIN_DPI <= actual <= MAX_DPI:
        return gray
    scale = dpi / actual
    scale = min(scale, 4.0)  # a thumbnail is not worth more than 4× upscaling
    if (w * scale) * (h * scale) > max_pixels:
        scale = (max_pixels / (w * h)) ** 0.5
    if abs(scale - 1.0) < 0.05:
        return gray
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=interpolation)
