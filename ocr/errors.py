"""One exception class per kind of bad input or OCR failure. `reason` is what the quarantine shows."""

from __future__ import annotations


class LetterbridgeInputError(Exception):
    """A file that cannot be processed. The item is quarantined with `reason`; the batch goes on."""

    code = "bad_input"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmptyFile(LetterbridgeInputError):
    code = "empty_file"


class UnsupportedFormat(LetterbridgeInputError):
    code = "unsupported_format"


class CorruptFile(LetterbridgeInputError):
    code = "corrupt_file"


class EncryptedPdf(LetterbridgeInputError):
    code = "encrypted_pdf"


class ImageTooLarge(LetterbridgeInputError):
    code = "image_too_large"


class TooManyPages(LetterbridgeInputError):
    code = "too_many_pages"


class FileTooLarge(LetterbridgeInputError):
    code = "file_too_large"


class PageNotRendered(LetterbridgeInputError):
    """The file reads, but a page of it could not be turned into pixels (never "blank")."""

    code = "page_not_rendered"

    def __init__(self, detail: str) -> None:
        super().__init__(f"a page could not be rendered: {detail}")


class OcrFailed(Exception):
    """An OCR engine crashed, failed or timed out on one page. That page fails alone.

    `repeatable` is True when the engine ran to its end and refused this input (Tesseract's
    "Too few characters" from OSD): the same image gets the same answer, so the test recorder
    (tests/ocr_replay.py) may keep it. A crash, a timeout or a missing program is not.
    """

    code = "ocr_failed"

    def __init__(self, reason: str, *, repeatable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.repeatable = repeatable


class OcrTimeout(OcrFailed):
    code = "ocr_timeout"
