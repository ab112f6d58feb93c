"""Turn an input file (PDF, TIFF, PNG, JPEG, HEIC) into grayscale 300 DPI page images, one at a time.

Poppler is called from this module only, and through pdf2image only: one `pdfinfo` per file
(its page count and the size of every page, asked once and kept while the file is unchanged)
and one `pdftoppm` per batch of pages (a whole letter is one batch). The limits on a file
(bytes, pages, pixels of a page) come from `config.settings` unless the caller passes its own.
Every failure caused by the file is an `ocr.errors` type whose `reason` is shown to the
mailroom for the quarantined file; a missing Poppler is not the file's fault and is raised as
pdf2image raises it.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pillow_heif
from pdf2image import convert_from_path
from pdf2image import pdf2image as pdf2image_impl
from pdf2image.exceptions import PDFPageCountError, PDFPopplerTimeoutError
from PIL import Image, ImageOps

from config.settings import get_settings
from ocr.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    FileTooLarge,
    ImageTooLarge,
    PageNotRendered,
    TooManyPages,
    UnsupportedFormat,
)

POPPLER_TIMEOUT = 120  # seconds for one pdfinfo / per page rendered

TARGET_DPI = 300
# An image whose effective resolution is below this is upscaled to TARGET_DPI; above
# MAX_DPI it is downscaled (Tesseract's time grows with pixels, not with accuracy).
MIN_DPI = 200
MAX_DPI = 450
# When an image has no trustworthy DPI, we assume its long side is a US-Letter page.
ASSUMED_LONG_SIDE_INCHES = 11.0

# We check sizes ourselves before decoding; PIL's own bomb guard stays as a backstop.
Image.MAX_IMAGE_PIXELS = 400_000_000
# HEIC/HEIF (phone photos) open through Pillow like any other image.
pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class Limits:
    """What one input file may be: its size on disk, its pages, the pixels of one page."""

    max_file_bytes: int
    max_pages: int
    max_pixels: int


def configured_limits() -> Limits:
    """The limits in force (`config.settings`: max_file_bytes, max_pages_per_file, max_image_pixels)."""
    settings = get_settings()
    return Limits(settings.max_file_bytes, settings.max_pages_per_file, settings.max_image_pixels)


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
# ISO base media files (HEIF, AVIF, MP4, ...) say what they are in the brand of their first
# box, "ftyp" at offset 4. These brands are HEIF still images: phones' HEIC photos.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_OTHER_ISOBMFF = {b"avif": "an AVIF image", b"avis": "an AVIF image"}


def sniff_format(path: Path, *, limits: Limits | None = None) -> str:
    """Return "pdf", "tiff", "png", "jpeg" or "heif" from the file's first bytes (never its name)."""
    path = Path(path)
    limits = limits or configured_limits()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CorruptFile(f"the file cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise EmptyFile("the file is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise FileTooLarge(
            f"the file is {size / 2**20:.0f} MB; the limit is {limits.max_file_bytes / 2**20:.0f} MB"
        )
    with path.open("rb") as fh:
        head = fh.read(1024)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "heif"
        described = _OTHER_ISOBMFF.get(brand, f"an ISO media file (brand {_printable(brand)})")
        raise UnsupportedFormat(
            f"the file is {described}, not a PDF, TIFF, PNG, JPEG or HEIC (whatever its name says)"
        )
    # The PDF header may follow a little junk (the spec allows it within the first 1 KB).
    if b"%PDF-" in head:
        return "pdf"
    if not head.strip(b"\x00 \t\r\n"):
        raise EmptyFile("the file holds only blank bytes")
    described = "a text file" if _looks_like_text(head) else "an unknown binary format"
    raise UnsupportedFormat(
        f"the file is {described}, not a PDF, TIFF, PNG, JPEG or HEIC (whatever its name says)"
    )


def _printable(raw: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "?" for b in raw)


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def count_pages(path: Path, *, limits: Limits | None = None) -> int:
    """Number of pages. Raises CorruptFile, EncryptedPdf, TooManyPages and sniff_format's errors."""
    path = Path(path)
    limits = limits or configured_limits()
    kind = sniff_format(path, limits=limits)
    if kind == "pdf":
        pages = len(_pdf_pages(path, limits))
    elif kind == "tiff":
        with _open_image(path) as im:
            pages = getattr(im, "n_frames", 1)
    else:
        with _open_image(path):
            pages = 1
    if pages > limits.max_pages:
        raise TooManyPages(f"the file has {pages} pages; the limit is {limits.max_pages}")
    if pages < 1:
        raise CorruptFile("the file has no pages")
    return pages


def iter_pages(
    path: Path,
    *,
    dpi: int = TARGET_DPI,
    max_pixels: int | None = None,
    limits: Limits | None = None,
) -> Iterator[np.ndarray]:
    """Yield each page as a grayscale uint8 array at about `dpi`, decoding one page at a time.

    `max_pixels` overrides `limits.max_pixels` (the pixels of one page as rendered).
    """
    path = Path(path)
    limits = limits or configured_limits()
    if max_pixels is not None:
        limits = Limits(limits.max_file_bytes, limits.max_pages, max_pixels)
    kind = sniff_format(path, limits=limits)
    if kind == "pdf":
        yield from _iter_pdf(path, dpi=dpi, limits=limits)
    else:
        count_pages(path, limits=limits)  # raises TooManyPages before any decoding
        yield from _iter_image(path, dpi=dpi, max_pixels=limits.max_pixels, multipage=kind == "tiff")


# --- PDF ------------------------------------------------------------------------------------

# pdf2image asks `pdfinfo` for the page count and `pdftoppm -v` for Poppler's version inside
# every convert_from_path call, and has no argument to skip either. We ask pdfinfo once per file
# ourselves, before rendering (the page sizes must be checked first), and Poppler's version does
# not change under a running process: so inside our own calls both are answered from what we
# already know. The pdfinfo answer is per thread: only the thread that asked sees it.
_pdf2image_pdfinfo = pdf2image_impl.pdfinfo_from_path
_known_pdfinfo = threading.local()


def _pdfinfo_known_or_asked(pdf_path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    known: dict[str, dict[str, Any]] = getattr(_known_pdfinfo, "by_path", {})
    if pdf_path in known:
        return known[pdf_path]
    return _pdf2image_pdfinfo(pdf_path, *args, **kwargs)


pdf2image_impl.pdfinfo_from_path = _pdfinfo_known_or_asked
pdf2image_impl._get_poppler_version = functools.cache(pdf2image_impl._get_poppler_version)


@dataclass(frozen=True)
class _PdfPage:
    number: int
    width_pt: float  # the CropBox, the box pdftoppm renders with -cropbox; rotation applied
    height_pt: float


@dataclass(frozen=True)
class _PdfInfo:
    answer: dict[str, Any]  # pdfinfo's answer as pdf2image parses it
    pages: tuple[_PdfPage, ...]


_PAGE_SIZE = re.compile(r"^Page\s+(\d+) size$")
_SIZE_VALUE = re.compile(r"^([\d.]+) x ([\d.]+) pts")


def _pdf_info(path: Path, limits: Limits) -> _PdfInfo:
    """Every page's number and size, checking the PDF is whole. One pdfinfo per unchanged file."""
    stat = path.stat()
    return _pdf_info_of(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, limits.max_pages)


def _pdf_pages(path: Path, limits: Limits) -> tuple[_PdfPage, ...]:
    return _pdf_info(path, limits).pages


@functools.lru_cache(maxsize=16)
def _pdf_info_of(path: str, size: int, mtime_ns: int, inode: int, max_pages: int) -> _PdfInfo:
    # size, mtime and inode are part of the cache key: a file changed or replaced is asked again.
    info = _pdfinfo(path, max_pages)
    total = int(info.get("Pages") or 0)
    if total > max_pages:
        raise TooManyPages(f"the file has {total} pages; the limit is {max_pages}")
    pages: list[_PdfPage] = []
    for key, value in info.items():
        number = _PAGE_SIZE.match(key)
        dims = _SIZE_VALUE.match(str(value))
        if not number or not dims:
            continue
        n = int(number.group(1))
        width, height = float(dims.group(1)), float(dims.group(2))
        rot = str(info.get(key[: -len("size")] + "rot", "0")).strip()
        if rot.isdigit() and int(rot) % 180 == 90:
            width, height = height, width
        pages.append(_PdfPage(n, width, height))
    if total == 0 or not pages:
        raise CorruptFile("the PDF has no pages")
    return _PdfInfo(info, tuple(sorted(pages, key=lambda page: page.number)))


def _pdfinfo(path: str, max_pages: int) -> dict[str, Any]:
    _check_pdf_complete(Path(path))
    try:
        # A last page past the end makes pdfinfo list every page's size (-l 0 is invalid).
        return _pdf2image_pdfinfo(path, first_page=1, last_page=max_pages + 1,
                                  timeout=POPPLER_TIMEOUT)
    except PDFPopplerTimeoutError as exc:
        raise CorruptFile(f"reading the PDF took longer than {POPPLER_TIMEOUT} s") from exc
    except PDFPageCountError as exc:
        err = str(exc).partition("\n")[2]
        if "Incorrect password" in err or "encrypted" in err.lower():
            raise EncryptedPdf("the PDF is password-protected; send it without a password") from exc
        raise CorruptFile(f"the PDF cannot be read ({_first_line(err) or 'pdfinfo failed'})") from exc


# What may follow a PDF's last %%EOF without making it a cut-off file: padding (zero bytes,
# whitespace) or junk that starts no further revision of the document.
_REVISION_START = re.compile(rb"\bobj\b|\bxref\b|\btrailer\b|\bstartxref\b")
_TAIL_SEARCHED = 1024 * 1024


def _check_pdf_complete(path: Path) -> None:
    # Poppler "repairs" a cut-off PDF silently and renders what it can; a letter with its
    # last pages missing must not look complete, so a PDF whose last revision has no end
    # marker is corrupt. Padding after the marker (some scanners and mail gateways add
    # kilobytes of zero bytes) is not a cut: the document before it is whole.
    after = _bytes_after_last_eof(path)
    if after is None:
        raise CorruptFile("the PDF is truncated (its end-of-file marker is missing)")
    if _REVISION_START.search(after):
        raise CorruptFile("the PDF is truncated (its last revision has no end-of-file marker)")


def _bytes_after_last_eof(path: Path) -> bytes | None:
    """What follows the last %%EOF within the file's last megabyte; None when there is none."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL_SEARCHED))
        tail = fh.read()
    at = tail.rfind(b"%%EOF")
    return None if at < 0 else tail[at + len(b"%%EOF") :]


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:200]
    return ""


# Pages are rendered in batches whose pixels add up to at most this (about seven Letter pages
# at 300 DPI; a page alone may be larger, up to the page limit): one pdftoppm run for a whole
# letter, and the rendered batch waiting in memory-backed scratch space stays bounded.
RENDER_BATCH_PIXELS = 64_000_000
_SHM = Path("/dev/shm")
SCRATCH_DIR = str(_SHM) if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None
_RENDERED_PAGE = re.compile(r"-(\d+)\.pgm$")


def _iter_pdf(path: Path, *, dpi: int, limits: Limits) -> Iterator[np.ndarray]:
    info = _pdf_info(path, limits)
    for page in info.pages:  # every page is checked before any is rendered
        pixels = _pixels_at(page, dpi)
        if pixels > limits.max_pixels:
            raise ImageTooLarge(
                f"page {page.number} is {page.width_pt / 72:.0f}×{page.height_pt / 72:.0f} inches "
                f"({pixels / 1e6:.0f} megapixels at {dpi} DPI); the limit is "
                f"{limits.max_pixels / 1e6:.0f} megapixels"
            )
    for batch in _batches(info.pages, dpi):
        yield from _render_batch(path, info, batch, dpi=dpi, max_pixels=limits.max_pixels)


def _pixels_at(page: _PdfPage, dpi: int) -> float:
    return (page.width_pt * dpi / 72.0) * (page.height_pt * dpi / 72.0)


def _batches(pages: tuple[_PdfPage, ...], dpi: int) -> Iterator[list[_PdfPage]]:
    """Runs of consecutive pages whose pixels add up to at most RENDER_BATCH_PIXELS (≥ 1 page)."""
    batch: list[_PdfPage] = []
    pixels = 0.0
    for page in pages:
        size = _pixels_at(page, dpi)
        if batch and pixels + size > RENDER_BATCH_PIXELS:
            yield batch
            batch, pixels = [], 0.0
        batch.append(page)
        pixels += size
    if batch:
        yield batch


def _render_batch(
    path: Path, info: _PdfInfo, batch: list[_PdfPage], *, dpi: int, max_pixels: int
) -> Iterator[np.ndarray]:
    """One pdftoppm run for the batch's pages (their CropBox, grey, PGM files), read one by one."""
    first, last = batch[0].number, batch[-1].number
    with tempfile.TemporaryDirectory(prefix="lb-raster-", dir=SCRATCH_DIR) as folder:
        _known_pdfinfo.by_path = {str(path): info.answer}
        try:
            rendered = convert_from_path(
                str(path), dpi=dpi, first_page=first, last_page=last, grayscale=True,
                use_cropbox=True, output_folder=folder, output_file="page", paths_only=True,
                timeout=POPPLER_TIMEOUT * len(batch),
            )
        except PDFPopplerTimeoutError as exc:
            raise PageNotRendered(
                f"pages {first}–{last} took longer than {POPPLER_TIMEOUT * len(batch)} s"
            ) from exc
        finally:
            _known_pdfinfo.by_path = {}
        by_number = {}
        for name in rendered:
            found = _RENDERED_PAGE.search(str(name))
            if found:
                by_number[int(found.group(1))] = Path(name)
        for page in batch:
            file = by_number.get(page.number)
            if file is None:
                raise PageNotRendered(f"page {page.number} (Poppler made no image of it)")
            yield _load_rendered(file, page.number, max_pixels)
            file.unlink()


def _load_rendered(file: Path, number: int, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as im:
                # The size was checked on the box pdftoppm renders; this is the backstop for a
                # page that still came out larger, before its pixels are read.
                _check_pixels(im.width, im.height, max_pixels, f"page {number} as rendered")
                im.load()
                return np.asarray(im.convert("L") if im.mode != "L" else im, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PageNotRendered(f"page {number} is too large to decode safely ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise PageNotRendered(f"page {number} ({exc})") from exc


# --- TIFF / PNG / JPEG / HEIC ---------------------------------------------------------------


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


def _iter_image(path: Path, *, dpi: int, max_pixels: int, multipage: bool) -> Iterator[np.ndarray]:
    with _open_image(path) as im:
        # A TIFF's frames are pages; other formats' extra frames (an animated PNG, a HEIC's
        # burst) are not, and count_pages counts one page for them.
        frames = getattr(im, "n_frames", 1) if multipage else 1
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
