"""The waiting list in the web app follows `Inmate.waiting_since`: a writer goes on it when the
mailroom names them as the sender of a letter nobody can be given, and comes off when matched."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage.db import session_scope
from storage.models import Inmate, MailItem, Match, Volunteer


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_a_letter_naming_a_writer_without_a_pen_pal_puts_them_on_the_list(world, client_for):
    """GIVEN Lee, whose match with Bo is still marked active although Bo has gone (so the roster
    does not show him waiting), and the unrouted letter
    WHEN the mailroom names Lee as its sender (confirming the envelope's different name)
    THEN the letter stays without a pen pal (no_match) and Lee is on the waiting list; once the
    admin matches him with Ana he is off it."""
    with session_scope() as session:
        session.scalar(select(Volunteer).where(Volunteer.email == world.users["bo"])).active = False
    lee = world.inmate_ids["lee"]
    admin = client_for("admin")
    assert "Everyone has a pen pal." in admin.get("/admin/waiting").text

    mailroom = client_for("mailroom")
    letter = f"/letters/{world.ids['unrouted']}"
    token = csrf_of(mailroom.get(letter).text)
    answer = mailroom.post(f"{letter}/sender", data={"inmate_id": lee, "confirm_mismatch": "1",
                                                    "csrf_token": token})
    assert answer.status_code == 303
    with session_scope() as session:
        item = session.get(MailItem, world.ids["unrouted"])
        assert item.inmate_id == lee and item.volunteer_id is None
        assert "no_match" in item.review_reasons
        assert session.get(Inmate, lee).waiting_since is not None
    page = admin.get("/admin/waiting")
    assert "Lee Walker" in page.text and "1 writer without a pen pal" in page.text

    with session_scope() as session:
        ana = session.scalar(select(Volunteer.id).where(Volunteer.email == world.users["ana"]))
    answer = admin.post("/admin/matches", data={"inmate_id": lee, "volunteer_id": ana,
                                                "back": "waiting", "csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    with session_scope() as session:
        assert session.get(Inmate, lee).waiting_since is None
        assert session.scalar(select(Match).where(Match.inmate_id == lee,
                                                  Match.volunteer_id == ana)).active
    assert "Everyone has a pen pal." in admin.get("/admin/waiting").text
