"""The mailroom's moves without JavaScript: each form posts and redirects (PRG), and a refusal
brings the person back to where they were."""

from __future__ import annotations

import re

from storage.db import session_scope
from storage.models import MailItem


def csrf_of(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def test_a_refused_sender_comes_back_to_the_same_search(world, client_for) -> None:
    """GIVEN an unrouted letter whose envelope reads "R. Smith", and a roster search for 12345
    WHEN the mailroom picks José Martínez without confirming that the name differs
    THEN it is refused and redirected to the same search, where José's row asks for the tick
    again; confirmed from there, the letter is his and goes to the letter's own page."""
    item = world.ids["unrouted"]
    mailroom = client_for("mailroom")
    page = mailroom.get(f"/letters/{item}?sender_q=12345").text
    form = {"csrf_token": csrf_of(page), "inmate_id": world.inmate_ids["jose"],
            "sender_q": "12345"}
    refused = mailroom.post(f"/letters/{item}/sender", data=form)
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/letters/{item}?sender_q=12345#sender"
    again = mailroom.get(refused.headers["location"]).text
    assert "Not done: the envelope&#39;s name disagrees with" in again
    assert "The envelope's name differs from this record" in again.replace("&#39;", "'")
    with session_scope() as session:
        assert session.get(MailItem, item).inmate_id is None

    done = mailroom.post(f"/letters/{item}/sender", data={**form, "confirm_mismatch": "1"})
    assert done.headers["location"] == f"/letters/{item}#sender"
    with session_scope() as session:
        assert session.get(MailItem, item).inmate_id == world.inmate_ids["jose"]
