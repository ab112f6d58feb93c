"""Files that must be quarantined, each with the error code ocr/errors.py gives it."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import RectangleObject

pillow_heif.register_heif_opener()  # Pillow writes the phone's HEIC photo through it


def _small_pdf() -> bytes:
    page = np.full((1100, 850), 255, dtype=np.uint8)
    page[200:260, 100:700] = 0
    buf = io.BytesIO()
    img = Image.fromarray(page)
    img.save(buf, "PDF", resolution=100.0)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit white PNG of width x height, built row by row in a few KB of memory."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte + packed white pixels
    comp = zlib.compressobj(9)
    chunk = row * 500
    parts = [comp.compress(chunk) for _ in range(height // 500)]
    parts += [comp.compress(row * (height % 500)), comp.flush()]
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def make_bad_inputs(out_dir: Path) -> dict[str, str]:
    """Write the bad files into `out_dir`; returns {file name: expected error code}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    good = _small_pdf()

    (out_dir / "empty.pdf").write_bytes(b"")
    (out_dir / "truncated.pdf").write_bytes(good[: len(good) // 2])

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(good)).pages:
        writer.add_page(page)
    try:
        writer.encrypt(
            user_password="letterbridge-secret", owner_password="owner-secret", algorithm="AES-128"
        )
    except Exception:  # AES needs the cryptography package; RC4 is built in
        writer.encrypt(
            user_password="letterbridge-secret", owner_password="owner-secret", algorithm="RC4-128"
        )
    with (out_dir / "encrypted.pdf").open("wb") as fh:
        writer.write(fh)

    (out_dir / "huge.png").write_bytes(huge_png())
    (out_dir / "notapdf.pdf").write_text(
        "Dear Sam,\nThis is a plain text file with a .pdf name.\n", encoding="utf-8"
    )
    return {
        "empty.pdf": "empty_file",
        "truncated.pdf": "corrupt_file",
        "encrypted.pdf": "encrypted_pdf",
        "huge.png": "image_too_large",
        "notapdf.pdf": "unsupported_format",  # a reader may fairly say corrupt_file instead
    }


def _page(width: int, height: int, seed: int) -> Image.Image:
    """A white page with a few dark text-like bars, at the given pixel size."""
    rng = np.random.default_rng(seed)
    page = np.full((height, width), 250, dtype=np.uint8)
    for row in range(height // 10, height - height // 10, max(height // 30, 40)):
        start = int(rng.integers(width // 12, width // 6))
        page[row:row + max(height // 200, 8), start:width - start] = 20
    return Image.fromarray(page)


def with_boxes(pdf: bytes, *, media_inches: float, crop_inches: tuple[float, float] | None) -> bytes:
    """`pdf` with its first page's MediaBox made `media_inches` square and its CropBox set to
    `crop_inches` (or removed, so the whole MediaBox is the page)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    page = writer.pages[0]
    page.mediabox = RectangleObject([0, 0, media_inches * 72, media_inches * 72])
    if crop_inches:
        page.cropbox = RectangleObject([0, 0, crop_inches[0] * 72, crop_inches[1] * 72])
    elif "/CropBox" in page:
        del page["/CropBox"]
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def make_odd_files(out_dir: Path) -> dict[str, str]:
    """Files that are odd but not all bad, for the memory benchmark and the fault tests: a page
    whose MediaBox is far bigger than what it shows, a page too large to render, trailing bytes
    after %%EOF, a phone's HEIC photo, a JPEG named .pdf, and a batch of ordinary large pages
    (11 x 17 inches at 300 DPI). Returns {file name: expected outcome}: "read" when the file
    should become pages, else the error code it should be quarantined with."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    letter = _page(2550, 3300, seed=1)
    buf = io.BytesIO()
    letter.save(buf, "PDF", resolution=300.0, save_all=True, append_images=[_page(2550, 3300, 2)])
    two_pages = buf.getvalue()

    (out_dir / "huge-mediabox.pdf").write_bytes(
        with_boxes(two_pages, media_inches=100, crop_inches=(8.5, 11)))
    (out_dir / "sixty-inch-page.pdf").write_bytes(
        with_boxes(two_pages, media_inches=60, crop_inches=None))
    (out_dir / "trailing-zeros.pdf").write_bytes(two_pages + b"\0" * 4096)
    letter.save(out_dir / "IMG_0001.heic", "HEIF", quality=80)
    letter.save(out_dir / "photo-named.pdf", "JPEG", quality=85)
    tabloid = [_page(3300, 5100, seed) for seed in range(10, 16)]
    tabloid[0].save(out_dir / "tabloid-6-pages.pdf", "PDF", resolution=300.0, save_all=True,
                    append_images=tabloid[1:])
    return {
        "huge-mediabox.pdf": "read",
        "sixty-inch-page.pdf": "image_too_large",
        "trailing-zeros.pdf": "read",
        "IMG_0001.heic": "read",
        "photo-named.pdf": "read",
        "tabloid-6-pages.pdf": "read",
    }
