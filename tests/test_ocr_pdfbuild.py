"""Stories about the searchable PDFs: the words can be found, and nothing else rides along."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from pypdf import PdfReader

from ocr.pdfbuild import searchable_pdf
from ocr.types import Word


def _page_with(words: list[Word]) -> np.ndarray:
    page = np.full((3300, 2550), 255, np.uint8)
    for w in words:
        page[w.y0 : w.y1, w.x0 : w.x1] = 60  # stand-in for the ink under each word
    return page


def test_searchable_pdf_text_and_neutral_metadata(tmp_path: Path) -> None:
    """GIVEN two page images with their words (Spanish accents included)
    WHEN a searchable PDF is built THEN pdftotext finds every word on its page, the pages are
    US-Letter, and the document information says only "Letterbridge"."""
    first = [Word("Querida", 95, 300, 300, 600, 360), Word("Lucía,", 95, 640, 300, 900, 360),
             Word("año", 90, 300, 420, 450, 480), Word("mañana", 90, 480, 420, 760, 480)]
    second = [Word("Love,", 95, 300, 300, 520, 360), Word("Dad", 95, 560, 300, 720, 360)]
    pdf = searchable_pdf([(_page_with(first), first), (_page_with(second), second)])
    path = tmp_path / "archive.pdf"
    path.write_bytes(pdf)

    page1 = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(path), "-"],
                           capture_output=True, text=True, check=True).stdout
    page2 = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(path), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert "Querida Lucía," in page1 and "año mañana" in page1
    assert "Love, Dad" in page2 and "Querida" not in page2

    reader = PdfReader(path)
    assert [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages] == [
        (612.0, 792.0), (612.0, 792.0)]
    info = {k: str(v) for k, v in (reader.metadata or {}).items()}
    for key in ("/Title", "/Author", "/Creator", "/Producer"):
        assert info[key] == "Letterbridge"
    assert set(info) <= {"/Title", "/Author", "/Creator", "/Producer", "/Subject", "/Keywords",
                         "/CreationDate", "/ModDate", "/Trapped"}
    assert all(v in ("Letterbridge", "") for k, v in info.items() if not k.endswith("Date")
               and k != "/Trapped")
    assert "ReportLab" not in pdf.decode("latin-1")
    # The font is embedded, so the accents show the same everywhere.
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    assert "DejaVuSans" in fonts and " yes " in fonts


def test_text_is_invisible(tmp_path: Path) -> None:
    """GIVEN a white page with a word WHEN the PDF is rendered THEN the page is still all white."""
    words = [Word("secret", 95, 300, 300, 900, 400)]
    path = tmp_path / "p.pdf"
    path.write_bytes(searchable_pdf([(np.full((3300, 2550), 255, np.uint8), words)]))
    out = tmp_path / "r"
    subprocess.run(["pdftoppm", "-r", "50", "-gray", str(path), str(out)], check=True)
    (rendered,) = tmp_path.glob("r*.pgm")
    data = rendered.read_bytes()
    assert min(data[-(425 * 550):]) > 250


def test_each_page_image_is_our_jpeg_as_it_is_and_equal_pages_share_one(tmp_path: Path) -> None:
    """GIVEN three pages, two of them the same image WHEN the PDF is built THEN each page's
    image is the JPEG we encoded, byte for byte (embedded, not decoded and re-encoded), and
    the two equal pages share one image object."""
    from ocr.pdfbuild import _jpeg

    words = [Word("Dear", 95, 300, 300, 520, 360)]
    same, other = _page_with(words), _page_with([Word("x", 95, 900, 900, 1400, 1300)])
    path = tmp_path / "p.pdf"
    path.write_bytes(searchable_pdf([(same, words), (other, []), (same, words)]))
    reader = PdfReader(path)
    streams = []
    for page in reader.pages:
        ((_name, xobject),) = page["/Resources"]["/XObject"].items()
        image = xobject.get_object()
        assert image["/Filter"] in ("/DCTDecode", ["/DCTDecode"])
        streams.append((xobject.idnum, image.get_data()))
    assert [data for _, data in streams] == [_jpeg(same), _jpeg(other), _jpeg(same)]
    assert streams[0][0] == streams[2][0] != streams[1][0]
