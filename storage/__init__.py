"""Blobs and the database. Knows nothing of OCR or Prefect."""
