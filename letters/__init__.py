"""A mail item's life, Prefect-free: states, intake, pages, routing, redaction, the release decision, the mailroom's moves."""
