"""The waiting list's `Inmate.waiting_since`: set when a writer has no pen pal, cleared when
matched, and read off its index oldest first (postal/roster.py, review_ui/queries.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from postal import roster
from review_ui import queries
from storage.db import get_engine, session_scope
from storage.models import Inmate, Volunteer, utcnow

ACTOR = "admin@example.org"


@pytest.fixture
def people(lb_home: Path) -> dict[str, int]:
    """Three writers added through the roster functions (no facility), two volunteers."""
    with session_scope() as session:
        ids = {
            key: roster.save_inmate(session, actor=ACTOR, inmate_number=number, name=name,
                                    facility_id=None).id
            for key, number, name in [("jose", "12345-678", "José Martínez"),
                                      ("lee", "87654-321", "Lee Walker"),
                                      ("finn", "99999-123", "Finn Ode")]
        }
        for key, email in [("ana", "ana@example.org"), ("bo", "bo@example.org")]:
            ids[key] = roster.save_volunteer(session, actor=ACTOR, email=email,
                                             display_name=key.title()).id
    return ids


def since(inmate_id: int):  # datetime | None
    with session_scope() as session:
        return session.get(Inmate, inmate_id).waiting_since


def test_waiting_since_follows_the_matches(people) -> None:
    """GIVEN José, just added to the roster
    WHEN he is matched with Ana and Bo, Ana's match ends, Bo's ends, he leaves the program and
    comes back
    THEN he waits from the moment he is added; matched, he does not; with Bo still writing he
    does not; once Bo's match ends he waits from that match's end; out of the program he is not
    waiting; back in it he waits from his return."""
    jose = people["jose"]
    assert since(jose) is not None
    with session_scope() as session:
        ana = roster.start_match(session, jose, people["ana"], actor=ACTOR)
        assert session.get(Inmate, jose).waiting_since is None
        bo = roster.start_match(session, jose, people["bo"], actor=ACTOR)
        roster.end_match(session, ana.id, actor=ACTOR)
        assert session.get(Inmate, jose).waiting_since is None  # Bo still writes
        roster.end_match(session, bo.id, actor=ACTOR)
        assert session.get(Inmate, jose).waiting_since == bo.ended_at
    with session_scope() as session:
        roster.release_inmate(session, jose, "released", actor=ACTOR)
    assert since(jose) is None
    before = utcnow()
    with session_scope() as session:
        roster.return_inmate(session, jose, actor=ACTOR)
    assert since(jose) >= before


def test_a_volunteer_leaving_puts_their_writers_on_the_list(people) -> None:
    """GIVEN José and Lee matched with Ana
    WHEN Ana leaves the program
    THEN both wait from then on."""
    with session_scope() as session:
        for writer in ("jose", "lee"):
            roster.start_match(session, people[writer], people["ana"], actor=ACTOR)
    before = utcnow()
    with session_scope() as session:
        roster.set_volunteer_active(session, people["ana"], active=False, actor=ACTOR)
    assert since(people["jose"]) >= before and since(people["lee"]) >= before


def test_a_match_imported_from_csv_takes_the_writer_off_the_list(people, tmp_path: Path) -> None:
    """GIVEN Lee waiting
    WHEN a matches CSV pairs him with Bo
    THEN he is not waiting any more."""
    csv = tmp_path / "matches.csv"
    csv.write_text("inmate_number,volunteer_email\n87654-321,bo@example.org\n")
    with session_scope() as session:
        roster.import_roster(session, {"matches": csv})
    assert since(people["lee"]) is None


def test_a_letter_with_no_pen_pal_to_go_to_puts_its_writer_on_the_list(people) -> None:
    """GIVEN Finn, whose record says he has a pen pal (an active match) but whose volunteer has
    gone without the match being ended, so routing finds no pen pal for his letter
    WHEN the letter's routing reports it (no_pen_pal_for_letter), twice
    THEN he waits from the first letter; the second does not move his place."""
    with session_scope() as session:
        roster.start_match(session, people["finn"], people["bo"], actor=ACTOR)
        session.get(Volunteer, people["bo"]).active = False  # as an old import might leave it
    assert since(people["finn"]) is None
    with session_scope() as session:
        roster.no_pen_pal_for_letter(session, people["finn"])
    first = since(people["finn"])
    assert first is not None
    with session_scope() as session:
        roster.no_pen_pal_for_letter(session, people["finn"])
    assert since(people["finn"]) == first


def test_the_list_is_ordered_by_waiting_since_not_by_joining(people) -> None:
    """GIVEN José on the roster for a year with a match that ended yesterday, Lee who joined a
    week ago and never had a pen pal, Finn who joined an hour ago and has one
    WHEN the waiting list is asked for, a page of one at a time
    THEN Lee comes first, then José (the wait counts from the match's end, not from joining),
    Finn is not on it; the total is 2; the one-writer entry says the same times."""
    now = utcnow()
    with session_scope() as session:
        jose, lee = session.get(Inmate, people["jose"]), session.get(Inmate, people["lee"])
        jose.created_at, jose.waiting_since = now - timedelta(days=365), now - timedelta(days=1)
        lee.created_at = lee.waiting_since = now - timedelta(days=7)
        roster.start_match(session, people["finn"], people["ana"], actor=ACTOR)
    with session_scope() as session:
        first, total = queries.waiting_list(session, 1, 0)
        second, _ = queries.waiting_list(session, 1, 1)
        assert total == 2
        assert [w.inmate.name for w in first + second] == ["Lee Walker", "José Martínez"]
        assert second[0].since == now - timedelta(days=1)
        jose, finn = session.get(Inmate, people["jose"]), session.get(Inmate, people["finn"])
        assert queries.waiting_entry(session, jose).since == now - timedelta(days=1)
        assert queries.waiting_entry(session, finn) is None


def test_the_waiting_list_reads_its_index_in_order(people) -> None:
    """GIVEN the waiting list's query
    WHEN SQLite plans it
    THEN it walks ix_inmates_waiting and needs no sort (no temporary B-tree for ORDER BY);
    the page takes a fixed number of queries (count, rows, letters in the queue)."""
    statements: list[tuple[str, object]] = []
    engine = get_engine()

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with session_scope() as session:
            queries.waiting_list(session, 50, 0)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert len(statements) == 3
    rows_sql, params = next((s, p) for s, p in statements if "ORDER BY" in s)
    with engine.connect() as conn:
        plan = " / ".join(row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {rows_sql}", tuple(params)))
    assert "ix_inmates_waiting" in plan, plan
    assert "TEMP B-TREE" not in plan, plan

