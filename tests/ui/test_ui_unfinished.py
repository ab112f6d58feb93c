"""The admin dashboard shows what waits, is being processed, retries or failed, with the reason."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from lease_holder import HOLD_LEASE

from storage.db import audit, session_scope
from storage.models import MailItem, SourceFile, utcnow

ROOT = Path(__file__).resolve().parents[2]


def _row(html: str, label: str) -> str:
    match = re.search(rf"<tr><th>{re.escape(label)}</th><td class=\"num\">(\d+)</td>", html)
    assert match, f"no row {label!r}"
    return match.group(1)


def test_the_dashboard_lists_unsplit_files_and_failed_letters_with_reasons(
        world, client_for) -> None:
    """GIVEN a file a dead worker left unsplit 7 minutes ago, a file a live process is
    working on, and a letter whose run failed once
    WHEN the admin opens the dashboard THEN the counts show both files (one being processed)
    and the retry; each row says why in words; no file name appears."""
    with session_scope() as session:
        left = SourceFile(sha256="a" * 64, filename="dead-worker-secret.pdf", size=1,
                          blob_key="ka", created_at=utcnow() - timedelta(minutes=7))
        busy = SourceFile(sha256="b" * 64, filename="live-worker-secret.pdf", size=1,
                          blob_key="kb")
        done = SourceFile(sha256="c" * 64, filename="c.pdf", size=1, blob_key="kc",
                          status="done")
        session.add_all([left, busy, done])
        session.flush()
        failed = MailItem(source_id=done.id, status="needs_review", stage="redacted",
                          review_reasons=["processing_failed"])
        session.add(failed)
        session.flush()
        audit(session, "processing_failed", item_id=failed.id, stage="redacted")
        ids = (left.id, busy.id, failed.id, done.id)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LEASE, ids[1]],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().split() == [ids[1]]
        page = client_for("admin").get("/admin")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert page.status_code == 200
    html = page.text
    assert _row(html, "files not yet split into letters") == "2"
    assert _row(html, "of those, being processed now") == "1"
    assert _row(html, "letters whose run failed, to be retried") == "1"
    rows = {m.group(1): m.group(0) for m in re.finditer(
        r"<tr><td><code>(\w+)</code></td>.*?</tr>", html, re.S)}
    assert "waiting for a worker (or recovery)" in rows[ids[0]] and "7 min" in rows[ids[0]]
    assert "being processed now" in rows[ids[1]]
    assert f'href="/letters/{ids[2]}"' in rows[ids[3]]
    assert "processing failed 1 time(s); recovery retries it" in rows[ids[3]]
    assert "secret.pdf" not in html


def test_the_dashboard_says_when_nothing_waits(world, client_for) -> None:
    """GIVEN only finished letters WHEN the admin opens the dashboard THEN it says nothing
    waits."""
    page = client_for("admin").get("/admin")
    assert page.status_code == 200
    assert _row(page.text, "files not yet split into letters") == "0"
