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


class OcrFailed(Exception):
    """Tesseract crashed or timed out on one page. That page fails alone."""

    code = "ocr_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OcrTimeout(OcrFailed):
    code = "ocr_timeout"
