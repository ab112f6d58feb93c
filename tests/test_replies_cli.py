"""`letterbridge replies ...` and `letterbridge facility set-rules`: an admin's day of replies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from letterbridge.cli import app
from storage.db import session_scope
from storage.models import Facility, Inmate, MailItem, Match, Reply, SourceFile, Volunteer


def world() -> str:
    """José at a federal prison, matched with Ana; his letter is routed to her. Returns its id."""
    with session_scope() as session:
        facility = Facility(name="FCI Englewood", address_line="9595 West Quincy Avenue",
                            city="Littleton", state="CO", zip="80123", system="federal")
        inmate = Inmate(name="José Martínez", inmate_number="12345-678", facility=facility)
        ana = Volunteer(email="ana.perez@example.org", display_name="Ana P.")
        source = SourceFile(sha256="1" * 64, filename="scan.pdf", blob_key="originals/11/x")
        session.add_all([facility, inmate, ana, source])
        session.flush()
        session.add(Match(inmate_id=inmate.id, volunteer_id=ana.id))
        item = MailItem(source_id=source.id, inmate_id=inmate.id, volunteer_id=ana.id,
                        status="released")
        session.add(item)
        session.flush()
        return item.id


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_admins_day_from_keyed_in_reply_to_returned_mail(
    lb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a letter from José and two replies Ana sent on paper, one with her phone number
    WHEN the admin sets the facility's mail address, keys both in, approves all, prints the
    batch, marks it mailed, and later records that the post returned it (released)
    THEN the refusal is printed with its reason, the batch files are written, a second
    print-batch says "nothing to print", and José is marked released."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the direct path, no Prefect server
    item_id = world()
    clean = tmp_path / "clean.txt"
    clean.write_text("Querido José,\n\n¡Gracias por tu carta!\n", encoding="utf-8")
    phone = tmp_path / "phone.txt"
    phone.write_text("Call me any time at 312-555-0142.\n", encoding="utf-8")

    run("facility", "set-rules", "--name", "FCI Englewood", "--mail-address", "PO Box 1000",
        "--page-limit", "2", "--no-labels-allowed", "--notes", "No stickers")
    with session_scope() as session:
        facility = session.query(Facility).one()
        assert (facility.mail_address_line, facility.page_limit, facility.labels_allowed,
                facility.notes) == ("PO Box 1000", 2, False, "No stickers")

    good_id = re.search(r"Reply (\w+) submitted", run(
        "replies", "add", "--item", item_id, "--author", "ana.perez@example.org",
        "--text-file", str(clean))).group(1)
    added = run("replies", "add", "--item", item_id, "--author", "ana.perez@example.org",
                "--text-file", str(phone))
    bad_id = re.search(r"Reply (\w+) submitted", added).group(1)
    assert "needs attention: Personal details in the text: a phone number" in added

    approved = run("replies", "approve", "--all")
    assert f"approved {good_id}" in approved
    assert re.search(rf"refused {bad_id}: Personal details in the text: a phone number", approved)

    out = tmp_path / "print"
    printed = run("replies", "print-batch", "--out", str(out))
    assert "1 letters" in printed
    assert {p.name for p in out.iterdir()} == {"letters.pdf", "envelopes.pdf", "manifest.csv"}
    assert "nothing to print" in run("replies", "print-batch", "--out", str(tmp_path / "again"))
    assert "mailed (1 letters)" in run("replies", "mark-mailed")

    listing = run("replies", "list")
    assert good_id in listing and bad_id in listing
    run("replies", "returned", "--id", good_id, "--reason", "released")
    with session_scope() as session:
        assert session.get(Reply, good_id).status == "returned_by_post"
        assert session.query(Inmate).one().status == "released"


def test_unknown_names_fail_with_a_message(lb_home: Path) -> None:
    """GIVEN no facility called "Nowhere" and no printed batch
    WHEN the admin edits its rules or marks a batch mailed
    THEN each command exits 1 and says why."""
    runner = CliRunner()
    result = runner.invoke(app, ["facility", "set-rules", "--name", "Nowhere", "--page-limit", "1"])
    assert result.exit_code == 1 and "No facility named 'Nowhere'" in result.output
    result = runner.invoke(app, ["replies", "mark-mailed"])
    assert result.exit_code == 1 and "No printed batch" in result.output
