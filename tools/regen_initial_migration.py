"""Regenerate the initial Alembic migration from storage/models.py (before the first release only)."""

import sys
import tempfile
from pathlib import Path

from alembic import command

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.db import alembic_config  # noqa: E402

versions = ROOT / "storage" / "migrations" / "versions"
for old in versions.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    url = f"sqlite:///{tmp}/empty.db"
    cfg = alembic_config(url)
    command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
for new in versions.glob("0001_*.py"):
    new.rename(versions / "0001_initial_schema.py")
