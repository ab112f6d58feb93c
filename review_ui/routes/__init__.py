"""Routes, one module per kind of user, plus the shared account and letter routes."""
