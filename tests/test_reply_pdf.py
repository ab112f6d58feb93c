"""Reply PDFs as a prison mailroom sees them, read back with pdftotext, pdftoppm, pdffonts."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from config.settings import Settings
from postal.reply_pdf import count_pages, render_reply_pdf
from storage.models import Facility, Inmate, Reply, Volunteer

DPI = 50
MARGIN_PX = DPI // 2  # 0.5 in

LONG_TEXT = "\n\n".join(
    f"Párrafo {n}. " + "Hoy pensé en tu carta mientras caminaba al trabajo. " * 14
    for n in range(1, 13)
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def make_reply(
    text: str,
    *,
    system: str = "federal",
    mail_address: str = "PO Box 1000",
    name: str = "José Martínez",
    number: str = "12345-678",
) -> Reply:
    """A reply built in memory: rendering needs the objects, not the database."""
    facility = Facility(
        name="FCI Englewood", address_line="9595 West Quincy Avenue", city="Littleton",
        state="CO", zip="80123", system=system, mail_address_line=mail_address,
    )
    inmate = Inmate(name=name, inmate_number=number, facility=facility, status="active")
    volunteer = Volunteer(email="ana.perez@example.org", display_name="Ana P.")
    return Reply(id="r1", text=text, inmate=inmate, volunteer=volunteer, code="K7M3QX")


def write_pdf(tmp_path: Path, data: bytes, name: str = "reply.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def page_texts(path: Path) -> list[str]:
    pages = len(PdfReader(path).pages)
    return [
        subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), "-layout", str(path), "-"],
                       capture_output=True, text=True, check=True, timeout=30).stdout
        for n in range(1, pages + 1)
    ]


def page_images(path: Path, dpi: int = DPI) -> list[np.ndarray]:
    prefix = path.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(prefix)], check=True,
                   timeout=60)
    files = sorted(path.parent.glob(f"{prefix.name}-*.png"))
    return [np.asarray(Image.open(f).convert("RGB")).astype(int) for f in files]


def test_every_page_names_the_recipient_and_never_the_volunteers_email(
    tmp_path: Path, settings: Settings
) -> None:
    """GIVEN a reply long enough for several pages
    WHEN it is rendered and read back with pdftotext page by page
    THEN every page shows the recipient's name, number and "page X of Y",
    AND the volunteer's display name is there but never their email."""
    reply = make_reply(LONG_TEXT)
    path = write_pdf(tmp_path, render_reply_pdf(reply, settings=settings))
    texts = page_texts(path)

    assert len(texts) >= 3
    assert count_pages(reply, settings) == len(texts)
    for number, text in enumerate(texts, start=1):
        assert "José Martínez" in text
        assert "12345-678" in text
        assert f"page {number} of {len(texts)}" in text
        assert "K7M-3QX" in text
    everything = "".join(texts)
    assert "Ana P." in everything
    assert "ana.perez" not in everything and "example.org" not in everything
    assert "Letterbridge Pen Pal Program" in texts[0]


def test_ink_stays_inside_the_printable_margins_in_black_only(
    tmp_path: Path, settings: Settings
) -> None:
    """GIVEN a multi-page reply
    WHEN each page is rendered to PNG with pdftoppm
    THEN the outer half inch of every page is blank paper, no pixel has colour,
    AND the header and footer do print (ink within an inch of the top and bottom)."""
    path = write_pdf(tmp_path, render_reply_pdf(make_reply(LONG_TEXT), settings=settings))
    images = page_images(path)

    assert len(images) >= 3
    for image in images:
        height, width, _ = image.shape
        assert (width, height) == (int(8.5 * DPI), 11 * DPI)
        grey = image.min(axis=2)
        for band in (grey[:MARGIN_PX], grey[-MARGIN_PX:], grey[:, :MARGIN_PX],
                     grey[:, -MARGIN_PX:]):
            assert band.min() == 255, "ink inside the 0.5 in margin"
        spread = image.max(axis=2) - image.min(axis=2)
        assert spread.max() <= 2, "coloured pixels"
        assert grey[:DPI].min() < 128, "no header"
        assert grey[-DPI:].min() < 128, "no footer"


def test_spanish_text_survives_with_embedded_fonts(tmp_path: Path, settings: Settings) -> None:
    """GIVEN a reply in Spanish with accents, ñ and inverted punctuation
    WHEN it is rendered
    THEN pdftotext reads every character back, AND pdffonts lists only embedded fonts."""
    text = ("¿Cómo estás, José? ¡Qué alegría! El niño comió piña. "
            "Árbol, él, índice, ópera, útil, pingüino.")
    path = write_pdf(tmp_path, render_reply_pdf(make_reply(text), settings=settings))

    body = page_texts(path)[0]
    for word in ("¿Cómo estás, José?", "¡Qué alegría!", "niño", "piña", "Árbol", "pingüino"):
        assert word in body
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True,
                           timeout=30).stdout.splitlines()[2:]
    assert fonts
    for line in fonts:
        assert "DejaVuSans" in line
        assert line.split()[-5] == "yes", line  # "emb" column


def test_recipient_block_follows_the_facility_format_and_mail_address(
    tmp_path: Path, settings: Settings
) -> None:
    """GIVEN a federal facility whose general mail goes to a PO box, and a California facility
    WHEN replies to both are rendered
    THEN the federal block reads name + register number, facility, PO box, city/state/ZIP
    (the street address is not used), AND the California block labels the CDCR number."""
    federal = page_texts(write_pdf(tmp_path, render_reply_pdf(make_reply("Hola."),
                                                              settings=settings), "f.pdf"))[0]
    lines = [line.strip() for line in federal.splitlines() if line.strip()]
    start = lines.index("José Martínez, Reg. No. 12345-678")
    assert lines[start + 1:start + 4] == ["FCI Englewood", "PO Box 1000", "Littleton, CO 80123"]
    assert "Quincy" not in federal

    street = page_texts(write_pdf(
        tmp_path, render_reply_pdf(make_reply("Hola.", mail_address=""), settings=settings),
        "s.pdf"))[0]
    assert "9595 West Quincy Avenue" in street

    state = page_texts(write_pdf(tmp_path, render_reply_pdf(
        make_reply("Hi.", system="ca", name="Sam Lee", number="AB1234"), settings=settings),
        "c.pdf"))[0]
    assert "Sam Lee, CDCR #AB1234" in state


def test_metadata_is_neutral(settings: Settings) -> None:
    """GIVEN a rendered reply
    WHEN its document information is read
    THEN it names neither the writer nor the reader, and carries no real creation time."""
    reader = PdfReader(io.BytesIO(render_reply_pdf(make_reply("Hola."), settings=settings)))
    info = {k: str(v) for k, v in (reader.metadata or {}).items()}
    blob = " ".join(info.values())
    for personal in ("Ana", "ana.perez", "José", "12345-678"):
        assert personal not in blob
    assert info.get("/Title") == "Letter"
    assert info.get("/CreationDate", "").startswith("D:2000")
