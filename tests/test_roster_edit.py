"""Editing the roster by hand (postal/roster.py): facilities, people, volunteers and matches,
each change audited without personal values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from postal import roster
from postal.roster import RosterError
from storage.db import session_scope
from storage.models import AuditEvent, Facility, Inmate, Match, Volunteer

ACTOR = "admin@example.org"
ENGLEWOOD = {"name": "FCI Englewood", "address_line": "9595 West Quincy Avenue",
             "city": "Littleton", "state": "co", "zip": "80123", "system": "federal"}
FLORENCE = {"name": "FCI Florence", "address_line": "5880 Highway 67",
            "city": "Florence", "state": "CO", "zip": "81226", "system": "federal"}


def audit_rows() -> list[tuple[str, dict]]:
    with session_scope() as session:
        return [(e.action, e.detail) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


@pytest.fixture
def people(lb_home: Path) -> dict[str, int]:
    """Two facilities, one writer at Englewood, two volunteers."""
    with session_scope() as session:
        englewood = roster.save_facility(session, actor=ACTOR, **ENGLEWOOD)
        florence = roster.save_facility(session, actor=ACTOR, **FLORENCE)
        jose = roster.save_inmate(session, actor=ACTOR, inmate_number="12345-678",
                                  name="José Martínez", facility_id=englewood.id)
        ana = roster.save_volunteer(session, actor=ACTOR, email="Ana@Example.org",
                                    display_name="Ana P.")
        bo = roster.save_volunteer(session, actor=ACTOR, email="bo@example.org",
                                   display_name="Bo K.")
        return {"englewood": englewood.id, "florence": florence.id, "jose": jose.id,
                "ana": ana.id, "bo": bo.id}


def test_added_rows_are_cleaned_and_checked(people) -> None:
    """GIVEN the rows the fixture added
    WHEN they are read back, and duplicates or bad values are tried
    THEN the number is folded for matching, the email lower-cased, the state upper-cased; a
    second facility with the same name, a second person with the same number, a bad system and
    an email without @ are each refused with a message."""
    with session_scope() as session:
        jose = session.get(Inmate, people["jose"])
        assert jose.number_key == "12345678" and jose.active and jose.created_at is not None
        assert session.get(Volunteer, people["ana"]).email == "ana@example.org"
        assert session.get(Facility, people["englewood"]).state == "CO"
        with pytest.raises(RosterError, match="another facility"):
            roster.save_facility(session, actor=ACTOR, **ENGLEWOOD)
        with pytest.raises(RosterError, match="inmate number"):
            roster.save_inmate(session, actor=ACTOR, inmate_number="12345-678", name="X",
                               facility_id=None)
        with pytest.raises(RosterError, match="system"):
            roster.save_facility(session, actor=ACTOR, **(FLORENCE | {"name": "Y", "system": "zz9"}))
        with pytest.raises(RosterError, match="email"):
            roster.save_volunteer(session, actor=ACTOR, email="no-at-sign", display_name="Z")


def test_a_transfer_moves_the_person_and_settles_a_transfer_flag(people) -> None:
    """GIVEN José flagged 'transferred' by returned mail
    WHEN his transfer to Florence is recorded
    THEN his facility is Florence, his status active and the flag note cleared; a transfer to a
    closed facility or to where he already is is refused."""
    with session_scope() as session:
        jose = session.get(Inmate, people["jose"])
        jose.status, jose.flag_note = "transferred", "mail returned: not at this address"
        roster.transfer_inmate(session, jose.id, people["florence"], actor=ACTOR)
        assert (jose.facility_id, jose.status, jose.flag_note) == (people["florence"], "active", "")
        with pytest.raises(RosterError, match="already"):
            roster.transfer_inmate(session, jose.id, people["florence"], actor=ACTOR)
        roster.set_facility_active(session, people["englewood"], active=False, actor=ACTOR)
        with pytest.raises(RosterError, match="closed"):
            roster.transfer_inmate(session, jose.id, people["englewood"], actor=ACTOR)
    (detail,) = [d for a, d in audit_rows() if a == "inmate_transferred"]
    assert detail == {"inmate_id": people["jose"], "from_facility_id": people["englewood"],
                      "to_facility_id": people["florence"]}


def test_a_facility_with_people_in_the_program_cannot_close(people) -> None:
    """GIVEN José at Englewood
    WHEN Englewood is closed
    THEN it is refused until he has left; then it closes, and reopens."""
    with session_scope() as session:
        with pytest.raises(RosterError, match="still at this facility"):
            roster.set_facility_active(session, people["englewood"], active=False, actor=ACTOR)
        roster.release_inmate(session, people["jose"], "released", actor=ACTOR)
        roster.set_facility_active(session, people["englewood"], active=False, actor=ACTOR)
        assert not session.get(Facility, people["englewood"]).active
        roster.set_facility_active(session, people["englewood"], active=True, actor=ACTOR)
        assert session.get(Facility, people["englewood"]).active


def test_matching_ending_and_rematching_keep_one_row_and_one_code(people) -> None:
    """GIVEN José and Ana
    WHEN they are matched, the match ends, and they are matched again
    THEN one Match row carries one reply code throughout; it is active, then ended (with the
    time), then active again; matching an already matched pair is refused."""
    with session_scope() as session:
        match = roster.start_match(session, people["jose"], people["ana"], actor=ACTOR)
        code = match.code
        assert match.active and code and match.ended_at is None
        with pytest.raises(RosterError, match="already matched"):
            roster.start_match(session, people["jose"], people["ana"], actor=ACTOR)
        roster.end_match(session, match.id, actor=ACTOR)
        assert not match.active and match.ended_at is not None
        again = roster.start_match(session, people["jose"], people["ana"], actor=ACTOR)
        assert again.id == match.id and again.code == code and again.active
        assert session.scalar(select(Match.id).where(Match.id != match.id)) is None


def test_leaving_ends_matches_and_blocks_new_ones(people) -> None:
    """GIVEN José matched with Ana and Bo matched with nobody
    WHEN José is released from prison, and later Ana leaves the program
    THEN José is inactive with status 'released', his match ended, and he can't be matched;
    back in the program he can be; Ana leaving ends her matches and she can't be matched."""
    with session_scope() as session:
        roster.start_match(session, people["jose"], people["ana"], actor=ACTOR)
        with pytest.raises(RosterError, match="reason"):
            roster.release_inmate(session, people["jose"], "escaped", actor=ACTOR)
        roster.release_inmate(session, people["jose"], "released", actor=ACTOR)
        jose = session.get(Inmate, people["jose"])
        assert (jose.active, jose.status) == (False, "released")
        assert not session.scalar(select(Match).where(Match.inmate_id == jose.id)).active
        with pytest.raises(RosterError, match="left the program"):
            roster.start_match(session, jose.id, people["bo"], actor=ACTOR)
        roster.return_inmate(session, jose.id, actor=ACTOR)
        assert (jose.active, jose.status) == (True, "active")
        roster.start_match(session, jose.id, people["ana"], actor=ACTOR)
        _volunteer, ended = roster.set_volunteer_active(session, people["ana"], active=False,
                                                        actor=ACTOR)
        assert ended == 1
        with pytest.raises(RosterError, match="volunteer has left"):
            roster.start_match(session, jose.id, people["ana"], actor=ACTOR)


def test_the_audit_trail_names_ids_and_fields_never_values(people) -> None:
    """GIVEN every kind of change made to the roster
    WHEN the audit log is read
    THEN each change is there, and no name, number, email or address appears in any detail."""
    with session_scope() as session:
        roster.save_inmate(session, actor=ACTOR, inmate_id=people["jose"],
                           inmate_number="12345-679", name="José M. Martínez",
                           facility_id=people["englewood"])
        roster.save_volunteer(session, actor=ACTOR, volunteer_id=people["bo"],
                              email="bo.k@example.org", display_name="Bo Kim")
        match = roster.start_match(session, people["jose"], people["bo"], actor=ACTOR)
        roster.end_match(session, match.id, actor=ACTOR)
        roster.release_inmate(session, people["jose"], "withdrew", actor=ACTOR)
        roster.set_volunteer_active(session, people["bo"], active=False, actor=ACTOR)
    rows = audit_rows()
    actions = [a for a, _ in rows]
    for action in ["facility_added", "inmate_added", "volunteer_added", "inmate_updated",
                   "volunteer_updated", "match_started", "match_ended", "inmate_left",
                   "volunteer_left"]:
        assert action in actions, action
    assert ("inmate_updated", {"inmate_id": people["jose"], "fields": ["inmate_number", "name"]}) in rows
    details = json.dumps([d for _, d in rows], ensure_ascii=False).lower()
    for value in ["josé", "martínez", "12345", "ana@", "bo.k@", "bo kim", "englewood", "quincy",
                  "80123", "littleton"]:
        assert value not in details, value


def test_an_escaped_csv_cell_imports_as_it_was_typed(lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a volunteers file Letterbridge wrote, with a display name escaped by csvsafe
    WHEN it is imported
    THEN the name is stored as typed, without the apostrophe."""
    from postal import csvsafe

    path = tmp_path / "volunteers.csv"
    path.write_text(f"email,display_name\r\ncee@example.org,{csvsafe.cell('+Cee')}\r\n")
    with session_scope() as session:
        (report,) = roster.import_roster(session, {"volunteers": path})
        assert report.created == 1
        assert session.scalar(select(Volunteer.display_name)) == "+Cee"
