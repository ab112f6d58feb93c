"""Pixels and words: rasterise, preprocess, OCR, envelopes, splitting, PII, redaction. No DB, no Prefect."""

from ocr.memory import return_freed_pages

# Every process that handles page images imports ocr: from here on, a freed page's memory goes
# back to the system (ocr/memory.py says why and what it saves).
return_freed_pages()
