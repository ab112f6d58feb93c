"""The admin's roster, person and waiting-list pages ask the database a fixed number of
questions, however many people, matches and letters there are (no query per row), and the
roster's page is read off its index in order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from postal import roster
from storage.db import get_engine, session_scope
from storage.models import Inmate, MailItem, Match, SourceFile, Volunteer, utcnow

# The most each page may take: session and user, then the page's own questions (the
# waiting list for one writer adds the letter and the volunteers to choose from).
BUDGET = {"roster": 5, "person": 7, "waiting": 5, "waiting-one": 9}


@contextmanager
def recorded() -> Iterator[list[tuple[str, object]]]:
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def grow(world, people: int) -> None:
    """`people` more writers, half matched with Ana or Bo, each with a letter in the queue."""
    with session_scope() as session:
        volunteers = list(session.scalars(select(Volunteer)))
        for n in range(people):
            inmate = Inmate(name=f"Writer {n:03d}", inmate_number=f"55{n:05d}",
                            number_key=f"55{n:05d}", waiting_since=utcnow())
            session.add(inmate)
            session.flush()
            if n % 2:
                session.add(Match(inmate_id=inmate.id, volunteer_id=volunteers[n % 2].id))
                inmate.waiting_since = None
            source = SourceFile(sha256=f"{n:063x}f", filename=f"g{n}.pdf", blob_key="k")
            session.add(source)
            session.flush()
            session.add(MailItem(source_id=source.id, status="unrouted", inmate_id=inmate.id,
                                 review_reasons=["no_match"]))


def counts(client, world) -> dict[str, int]:
    waiting = world.inmate_ids["lee"]
    pages = {
        "roster": "/admin/roster",
        "person": f"/admin/inmates/{world.inmate_ids['jose']}",
        "waiting": "/admin/waiting",
        "waiting-one": f"/admin/waiting?inmate={waiting}&item={world.ids['unrouted']}",
    }
    found = {}
    for name, path in pages.items():
        client.get(path)  # warm: the first request of a client may set things up
        with recorded() as statements:
            assert client.get(path).status_code == 200, path
        found[name] = len(statements)
    return found


def test_the_roster_pages_take_the_same_few_queries_for_3_or_43_people(world, client_for):
    """GIVEN the world's writers (Lee's match ended), then 40 more (half matched, each with a
    queued letter)
    WHEN the admin opens the roster, a person's page, the waiting list and the waiting list
    for one writer, before and after
    THEN each page takes no more queries than its budget, and the same number both times."""
    with session_scope() as session:
        match = session.scalar(select(Match).where(Match.inmate_id == world.inmate_ids["lee"]))
        roster.end_match(session, match.id, actor=world.users["admin"])
    admin = client_for("admin")
    small = counts(admin, world)
    grow(world, 40)
    large = counts(admin, world)
    assert large == small, (small, large)
    assert all(large[name] <= BUDGET[name] for name in BUDGET), large


def test_the_roster_is_read_in_name_order_off_its_index(world, client_for):
    """GIVEN 40 more writers on the roster
    WHEN SQLite plans the roster page's query
    THEN it walks ix_inmates_name (no sort of the whole roster), and people with the same name
    come in a fixed order (by id) so pages neither skip nor repeat anyone."""
    grow(world, 40)
    admin = client_for("admin")
    admin.get("/admin/roster")
    with recorded() as statements:
        admin.get("/admin/roster")
    sql, params = next((s, p) for s, p in statements if "ORDER BY inmates.name" in s)
    assert "ORDER BY inmates.name, inmates.id" in sql
    with get_engine().connect() as conn:
        plan = " / ".join(row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", tuple(params)))
    assert "ix_inmates_name" in plan and "TEMP B-TREE" not in plan, plan
