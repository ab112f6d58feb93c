"""A mail item's life, Prefect-free: states, intake, pages, routing, redaction, release, mailroom."""
