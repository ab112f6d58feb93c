"""Stories about turning input files into page images, and about the files we refuse."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from ocr import errors, raster
from ocr.pdfbuild import searchable_pdf
from ocr.types import Word


def _two_page_pdf(tmp_path: Path) -> Path:
    page = np.full((3300, 2550), 255, np.uint8)
    page[600:700, 300:2200] = 0
    path = tmp_path / "letter.pdf"
    path.write_bytes(searchable_pdf([(page, [Word("hello", 95, 300, 600, 900, 700)]), (page, [])]))
    return path


def _png_bomb(path: Path, width: int, height: int) -> None:
    """A real, valid 1-bit PNG of the given size that compresses to a few kilobytes."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_empty_file_is_refused(tmp_path: Path) -> None:
    """GIVEN a 0-byte upload WHEN it is sniffed THEN EmptyFile says the file is empty."""
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"")
    with pytest.raises(errors.EmptyFile) as caught:
        raster.count_pages(path)
    assert "empty" in caught.value.reason


def test_text_file_named_pdf_is_refused(tmp_path: Path) -> None:
    """GIVEN a text file named .pdf WHEN it is sniffed THEN UnsupportedFormat names what it is."""
    path = tmp_path / "letter.pdf"
    path.write_text("Dear friend, this is not a PDF at all.\n")
    with pytest.raises(errors.UnsupportedFormat) as caught:
        list(raster.iter_pages(path))
    assert "text file" in caught.value.reason


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    """GIVEN a PDF cut off halfway through the upload WHEN pages are counted THEN CorruptFile."""
    whole = _two_page_pdf(tmp_path).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(errors.CorruptFile) as caught:
        raster.count_pages(path)
    assert "truncated" in caught.value.reason


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    """GIVEN a PDF that needs a password to open WHEN pages are counted THEN EncryptedPdf."""
    writer = PdfWriter(clone_from=PdfReader(_two_page_pdf(tmp_path)))
    writer.encrypt("secret")
    path = tmp_path / "locked.pdf"
    writer.write(path)
    with pytest.raises(errors.EncryptedPdf) as caught:
        raster.count_pages(path)
    assert "password" in caught.value.reason


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    """GIVEN a 20000×20000 PNG of a few KB WHEN its pages are read
    THEN ImageTooLarge gives the size, quickly (the pixels were never decoded)."""
    path = tmp_path / "bomb.png"
    _png_bomb(path, 20000, 20000)
    started = time.perf_counter()
    with pytest.raises(errors.ImageTooLarge) as caught:
        list(raster.iter_pages(path))
    assert "20000×20000" in caught.value.reason
    assert time.perf_counter() - started < 1.0


def test_too_many_pages_and_too_large_files_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN limits of 1 page and 1 KB WHEN a 2-page PDF arrives THEN each limit has its error."""
    path = _two_page_pdf(tmp_path)
    monkeypatch.setattr(raster, "MAX_PAGES", 1)
    with pytest.raises(errors.TooManyPages):
        raster.count_pages(path)
    monkeypatch.setattr(raster, "MAX_FILE_BYTES", 1024)
    with pytest.raises(errors.FileTooLarge):
        raster.sniff_format(path)


def test_pdf_pages_come_one_at_a_time_at_300_dpi(tmp_path: Path) -> None:
    """GIVEN a 2-page Letter PDF WHEN its pages are iterated THEN two 2550×3300 grey pages."""
    path = _two_page_pdf(tmp_path)
    assert raster.sniff_format(path) == "pdf"
    assert raster.count_pages(path) == 2
    pages = raster.iter_pages(path)
    first = next(pages)
    assert first.shape == (3300, 2550) and first.dtype == np.uint8
    assert first[650, 1000] < 50 and first[100, 100] > 200
    assert len(list(pages)) == 1


def test_multipage_tiff(tmp_path: Path) -> None:
    """GIVEN a 3-page TIFF at 300 DPI WHEN it is read THEN three pages, in order."""
    frames = [Image.new("L", (2550, 3300), 255 - 60 * i) for i in range(3)]
    path = tmp_path / "run.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(300, 300))
    assert raster.sniff_format(path) == "tiff"
    assert raster.count_pages(path) == 3
    assert [int(p[10, 10]) for p in raster.iter_pages(path)] == [255, 195, 135]


def test_phone_photo_is_turned_by_its_exif_orientation(tmp_path: Path) -> None:
    """GIVEN a JPEG stored sideways with EXIF orientation 6 (turn 90° clockwise)
    WHEN it is read THEN the page comes out portrait with the mark at the top."""
    stored = Image.new("L", (3300, 2550), 255)
    stored.paste(0, (0, 0, 300, 2550))  # the left edge as stored is the top once turned
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", exif=exif, dpi=(300, 300))
    path = tmp_path / "photo.JPG"
    path.write_bytes(buf.getvalue())
    (page,) = raster.iter_pages(path)
    assert page.shape == (3300, 2550)
    assert page[100, 1200] < 60 and page[3200, 1200] > 200


def test_low_resolution_scan_is_upscaled_to_300_dpi(tmp_path: Path) -> None:
    """GIVEN a 100 DPI Letter PNG WHEN it is read THEN it comes out at ~300 DPI (2550×3300)."""
    path = tmp_path / "fax.png"
    Image.new("L", (850, 1100), 255).save(path, dpi=(100, 100))
    (page,) = raster.iter_pages(path)
    assert page.shape == (3300, 2550)


def test_camera_dpi_metadata_is_not_believed(tmp_path: Path) -> None:
    """GIVEN a 12-megapixel photo that claims 72 DPI WHEN it is read
    THEN it is not blown up to 16000 pixels: its size already means ~370 DPI on Letter."""
    path = tmp_path / "photo.png"
    Image.new("L", (3024, 4032), 255).save(path, dpi=(72, 72))
    (page,) = raster.iter_pages(path)
    assert page.shape == (4032, 3024)
