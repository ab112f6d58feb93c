"""Files that must be quarantined, each with the error code ocr/errors.py gives it."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image
from pypdf import PdfReader, PdfWriter


def _small_pdf() -> bytes:
    import numpy as np

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
