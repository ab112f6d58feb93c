"""Stories about turning input files into page images, and about the files we refuse."""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from config.settings import reset_settings
from letterbridge.samples.badinputs import with_boxes
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


def test_too_many_pages_and_too_large_files_are_refused(tmp_path: Path) -> None:
    """GIVEN limits of 1 page and 1 KB WHEN a 2-page PDF arrives THEN each limit has its error."""
    path = _two_page_pdf(tmp_path)
    one_page = raster.Limits(max_file_bytes=2**30, max_pages=1, max_pixels=10**9)
    with pytest.raises(errors.TooManyPages):
        raster.count_pages(path, limits=one_page)
    with pytest.raises(errors.TooManyPages):
        list(raster.iter_pages(path, limits=one_page))
    one_kb = raster.Limits(max_file_bytes=1024, max_pages=10, max_pixels=10**9)
    with pytest.raises(errors.FileTooLarge):
        raster.sniff_format(path, limits=one_kb)


def test_limits_come_from_the_settings(lb_home: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN LETTERBRIDGE_MAX_PAGES_PER_FILE=1 and LETTERBRIDGE_MAX_FILE_BYTES=1024 in the
    environment WHEN a 2-page PDF is counted and sniffed with no limits passed
    THEN the settings' limits are the ones applied (one place for limits)."""
    path = _two_page_pdf(tmp_path)
    assert raster.count_pages(path) == 2
    monkeypatch.setenv("LETTERBRIDGE_MAX_PAGES_PER_FILE", "1")
    reset_settings()
    with pytest.raises(errors.TooManyPages) as caught:
        raster.count_pages(path)
    assert "the limit is 1" in caught.value.reason
    monkeypatch.setenv("LETTERBRIDGE_MAX_FILE_BYTES", "1024")
    reset_settings()
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


# --- Poppler: how often it runs --------------------------------------------------------------


def _counting_poppler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, pdftoppm_body: str = ""
                      ) -> Path:
    """pdfinfo and pdftoppm on PATH that log each run ("NAME ARGS") before running the real one
    (or, for pdftoppm, `pdftoppm_body` instead)."""
    shims, log = tmp_path / "shims", tmp_path / "poppler-runs.log"
    shims.mkdir()
    for tool in ("pdfinfo", "pdftoppm"):
        real = shutil.which(tool)
        assert real, f"{tool} is not installed"
        body = pdftoppm_body if tool == "pdftoppm" and pdftoppm_body else f'exec {real} "$@"'
        script = shims / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n{body}\n')
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    return log


def _runs(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _marked_pages(n: int) -> list[np.ndarray]:
    """Letter pages at 300 DPI, page i with a black bar at row 300 + 200·i (to tell them apart)."""
    pages = []
    for i in range(n):
        page = np.full((3300, 2550), 255, np.uint8)
        page[300 + 200 * i : 400 + 200 * i, 300:2200] = 0
        pages.append(page)
    return pages


def _bar_row(page: np.ndarray) -> int:
    dark = np.flatnonzero(page[:, 1000] < 100)
    return int(dark[0]) if dark.size else -1


def test_a_four_page_pdf_costs_one_pdfinfo_and_one_pdftoppm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a 4-page PDF WHEN it goes through what the rasterise step does (sniff, count the
    pages, iterate them) THEN Poppler ran twice: one pdfinfo and one pdftoppm for all four pages,
    with no `pdftoppm -v` version probe (asked once per process, before this file)
    (it was 6 pdfinfo and 8 pdftoppm runs, half of them version probes)."""
    warm_up = tmp_path / "first.pdf"
    warm_up.write_bytes(searchable_pdf([(p, []) for p in _marked_pages(1)]))
    path = tmp_path / "letter.pdf"
    path.write_bytes(searchable_pdf([(p, []) for p in _marked_pages(4)]))
    log = _counting_poppler(tmp_path, monkeypatch)
    list(raster.iter_pages(warm_up))
    log.unlink()

    assert raster.sniff_format(path) == "pdf"
    assert raster.count_pages(path) == 4
    pages = list(raster.iter_pages(path))

    assert [_bar_row(p) for p in pages] == [300, 500, 700, 900]
    runs = _runs(log)
    assert [r.split()[0] for r in runs] == ["pdfinfo", "pdftoppm"], runs
    assert "-cropbox" in runs[1] and "-f 1 -l 4" in runs[1]


def test_long_files_render_in_bounded_batches_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a 5-page PDF and a render batch of about two Letter pages' pixels WHEN its pages are
    iterated THEN pdftoppm ran three times (pages 1–2, 3–4, 5) and the pages come out in order."""
    path = tmp_path / "run.pdf"
    path.write_bytes(searchable_pdf([(p, []) for p in _marked_pages(5)]))
    monkeypatch.setattr(raster, "RENDER_BATCH_PIXELS", 2 * 2550 * 3300)
    log = _counting_poppler(tmp_path, monkeypatch)
    pages = list(raster.iter_pages(path))
    assert [_bar_row(p) for p in pages] == [300, 500, 700, 900, 1100]
    renders = [r for r in _runs(log) if r.startswith("pdftoppm") and " -v" not in r]
    ranges = [re.search(r"-f (\d+) -l (\d+)", r).groups() for r in renders]
    assert ranges == [("1", "2"), ("3", "4"), ("5", "5")]


# --- Odd files --------------------------------------------------------------------------------


def _with_boxes(tmp_path: Path, *, media_inches: float, crop_inches: tuple[float, float] | None
                ) -> Path:
    """The 2-page Letter PDF with page 1's MediaBox made `media_inches` square, and its CropBox
    set to `crop_inches` (or left out: then the CropBox is the MediaBox)."""
    path = tmp_path / "boxes.pdf"
    path.write_bytes(with_boxes(_two_page_pdf(tmp_path).read_bytes(), media_inches=media_inches,
                                crop_inches=crop_inches))
    return path


def test_a_huge_mediabox_behind_a_letter_cropbox_renders_as_the_letter_page(tmp_path: Path) -> None:
    """GIVEN a page whose MediaBox is 100 inches square behind a Letter-size CropBox (what a
    viewer shows) WHEN its pages are read THEN the page comes out as the CropBox, 2550×3300,
    never the 30000×30000 MediaBox: the size checked is the size rendered."""
    path = _with_boxes(tmp_path, media_inches=100, crop_inches=(8.5, 11))
    first, second = raster.iter_pages(path)
    assert first.shape == (3300, 2550) and second.shape == (3300, 2550)
    assert first[650, 1000] < 50  # the letter's ink, where it is on the page


def test_a_page_too_large_is_refused_before_it_is_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a page 60 inches square (no CropBox: the whole MediaBox is the page) WHEN its pages
    are read THEN ImageTooLarge names the page and its size, and pdftoppm never ran."""
    path = _with_boxes(tmp_path, media_inches=60, crop_inches=None)
    log = _counting_poppler(tmp_path, monkeypatch)
    with pytest.raises(errors.ImageTooLarge) as caught:
        list(raster.iter_pages(path))
    assert "page 1 is 60×60 inches" in caught.value.reason
    assert not [r for r in _runs(log) if r.startswith("pdftoppm")]


def test_poppler_failing_to_render_is_its_own_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a PDF that pdfinfo reads but whose pages pdftoppm fails to render (it exits 1 and
    writes nothing) WHEN its pages are read THEN PageNotRendered: "a page could not be rendered"
    with the page number, never an empty list of pages (which would read as "all blank")."""
    path = _two_page_pdf(tmp_path)
    _counting_poppler(tmp_path, monkeypatch, pdftoppm_body='echo "Bogus memory allocation" >&2; exit 1')
    with pytest.raises(errors.PageNotRendered) as caught:
        list(raster.iter_pages(path))
    assert caught.value.reason.startswith("a page could not be rendered: page 1")
    assert caught.value.code == "page_not_rendered"


def test_pillows_bomb_guard_on_a_rendered_page_is_a_render_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN Pillow's decompression-bomb guard set below a Letter page WHEN a PDF's pages are
    read THEN the guard firing on the rendered page is PageNotRendered, not a crash."""
    path = _two_page_pdf(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(errors.PageNotRendered) as caught:
        list(raster.iter_pages(path))
    assert "page 1 is too large to decode safely" in caught.value.reason


def test_zero_bytes_after_the_end_marker_are_accepted(tmp_path: Path) -> None:
    """GIVEN a whole PDF followed by 4 KB of zero bytes (padding some gateways add)
    WHEN its pages are counted and read THEN it is accepted: 2 pages, as without the padding."""
    path = tmp_path / "padded.pdf"
    path.write_bytes(_two_page_pdf(tmp_path).read_bytes() + b"\x00" * 4096)
    assert raster.count_pages(path) == 2
    assert [p.shape for p in raster.iter_pages(path)] == [(3300, 2550)] * 2


def test_a_cut_off_incremental_update_is_still_truncated(tmp_path: Path) -> None:
    """GIVEN a whole PDF followed by the start of an update that was cut off (objects after
    the last end marker, no marker of their own) WHEN pages are counted THEN CorruptFile."""
    path = tmp_path / "cut-update.pdf"
    path.write_bytes(_two_page_pdf(tmp_path).read_bytes()
                     + b"\n9 0 obj\n<< /Type /Page /Parent 2 0 R >>\nendobj\n10 0 obj\n<< /Len")
    with pytest.raises(errors.CorruptFile) as caught:
        raster.count_pages(path)
    assert "truncated" in caught.value.reason


def test_a_heic_phone_photo_is_read(tmp_path: Path) -> None:
    """GIVEN a phone's HEIC photo of a page (named .jpg, as phones' shares often are)
    WHEN it is sniffed and read THEN it is a HEIF image, one page, at about 300 DPI, ink kept."""
    photo = Image.new("L", (2550, 3300), 250)
    photo.paste(0, (300, 600, 2200, 700))
    path = tmp_path / "IMG_0001.jpg"
    photo.save(path, "HEIF", quality=90)
    assert path.read_bytes()[4:8] == b"ftyp"
    assert raster.sniff_format(path) == "heif"
    assert raster.count_pages(path) == 1
    (page,) = raster.iter_pages(path)
    assert page.shape == (3300, 2550)
    assert page[650, 1000] < 60 and page[1500, 1000] > 200


def test_other_iso_media_files_are_named(tmp_path: Path) -> None:
    """GIVEN an AVIF image and an MP4 video (ISO media files like HEIC, other brands)
    WHEN they are sniffed THEN UnsupportedFormat names what each is."""
    avif = tmp_path / "photo.heic"
    avif.write_bytes(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64)
    with pytest.raises(errors.UnsupportedFormat) as caught:
        raster.sniff_format(avif)
    assert "AVIF" in caught.value.reason
    video = tmp_path / "letter.pdf"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64)
    with pytest.raises(errors.UnsupportedFormat) as caught:
        raster.sniff_format(video)
    assert "brand mp42" in caught.value.reason
