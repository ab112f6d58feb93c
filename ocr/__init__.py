"""Pixels and words: rasterise, preprocess, OCR, envelopes, splitting, PII, redaction. No DB, no Prefect."""
