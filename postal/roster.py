"""Roster import from CSV: facilities, inmates, volunteers, matches. Re-import updates, never duplicates."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from postal import csvsafe
from postal.codes import ensure_code
from postal.inmate_numbers import fold
from storage.db import audit
from storage.models import Facility, Inmate, Match, Volunteer, utcnow

COLUMNS = {
    "facilities": ["name", "address_line", "city", "state", "zip", "system"],
    "inmates": ["inmate_number", "name", "facility"],
    "volunteers": ["email", "display_name"],
    "matches": ["inmate_number", "volunteer_email"],
}


@dataclass
class ImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, problem)

    @property
    def ok(self) -> bool:
        return not self.errors


class RosterFileError(Exception):
    """The file as a whole can't be read (missing columns, not CSV)."""


def _number_key(number: str) -> str:
    return fold(number)


def _rows(path: Path, kind: str):  # generator of (line, row)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS[kind] if c not in header]
        if missing:
            raise RosterFileError(f"{path.name}: missing column(s) {', '.join(missing)}")
        reader.fieldnames = header
        for row in reader:
            # unescape: a file Letterbridge wrote (postal/csvsafe.py) reads back as it was.
            cleaned = {k: csvsafe.unescape((v or "").strip()) for k, v in row.items() if k}
            if not any(cleaned.values()):
                continue
            yield reader.line_num, cleaned


def _apply(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def import_facilities(session: Session, path: Path) -> ImportReport:
    report = ImportReport("facilities")
    for line, row in _rows(path, "facilities"):
        if not row["name"]:
            report.errors.append((line, "name is empty"))
            continue
        system = row["system"].lower()
        if not system or not (system == "federal" or (len(system) == 2 and system.isalpha())):
            report.errors.append((line, f"system must be 'federal' or a state code, got {system!r}"))
            continue
        values = {k: row[k] for k in ("address_line", "city", "state", "zip")} | {"system": system}
        facility = session.scalar(select(Facility).where(Facility.name == row["name"]))
        if facility is None:
            session.add(Facility(name=row["name"], **values))
            report.created += 1
        elif _apply(facility, values):
            report.updated += 1
        else:
            report.unchanged += 1
        session.flush()
    return report


def import_inmates(session: Session, path: Path) -> ImportReport:
    report = ImportReport("inmates")
    facilities = {f.name.lower(): f for f in session.scalars(select(Facility))}
    for line, row in _rows(path, "inmates"):
        number, name = row["inmate_number"], row["name"]
        if not number or not name:
            report.errors.append((line, "inmate_number and name are required"))
            continue
        facility = facilities.get(row["facility"].lower()) if row["facility"] else None
        if row["facility"] and facility is None:
            report.errors.append((line, f"unknown facility {row['facility']!r}"))
            continue
        values = {"name": name, "facility": facility, "number_key": _number_key(number)}
        inmate = session.scalar(select(Inmate).where(Inmate.inmate_number == number))
        if inmate is None:
            session.add(Inmate(inmate_number=number, waiting_since=utcnow(), **values))
            report.created += 1
        elif _apply(inmate, values):
            report.updated += 1
        else:
            report.unchanged += 1
        session.flush()
    return report


def import_volunteers(session: Session, path: Path) -> ImportReport:
    report = ImportReport("volunteers")
    for line, row in _rows(path, "volunteers"):
        email = row["email"].lower()
        if "@" not in email or not row["display_name"]:
            report.errors.append((line, "a valid email and a display_name are required"))
            continue
        volunteer = session.scalar(select(Volunteer).where(Volunteer.email == email))
        if volunteer is None:
            session.add(Volunteer(email=email, display_name=row["display_name"]))
            report.created += 1
        elif _apply(volunteer, {"display_name": row["display_name"]}):
            report.updated += 1
        else:
            report.unchanged += 1
        session.flush()
    return report


def import_matches(session: Session, path: Path) -> ImportReport:
    report = ImportReport("matches")
    for line, row in _rows(path, "matches"):
        inmate = session.scalar(select(Inmate).where(Inmate.inmate_number == row["inmate_number"]))
        volunteer = session.scalar(
            select(Volunteer).where(Volunteer.email == row["volunteer_email"].lower())
        )
        if inmate is None:
            report.errors.append((line, "unknown inmate_number"))
            continue
        if volunteer is None:
            report.errors.append((line, "unknown volunteer_email"))
            continue
        match = session.scalar(
            select(Match).where(Match.inmate_id == inmate.id, Match.volunteer_id == volunteer.id)
        )
        if match is None:
            match = Match(inmate=inmate, volunteer=volunteer, active=True)
            session.add(match)
            report.created += 1
        elif not match.active:
            match.active = True
            report.updated += 1
        else:
            report.unchanged += 1
        matched(inmate)
        session.flush()
        _ensure_code(session, match)
    return report


def _ensure_code(session: Session, match: Match) -> None:
    ensure_code(session, match)


IMPORTERS = {
    "facilities": import_facilities,
    "inmates": import_inmates,
    "volunteers": import_volunteers,
    "matches": import_matches,
}


def import_roster(session: Session, files: dict[str, Path], *, actor: str = "system") -> list[ImportReport]:
    """Import in dependency order; each file's good rows load even when others fail."""
    reports = []
    for kind in ("facilities", "inmates", "volunteers", "matches"):
        if kind in files:
            report = IMPORTERS[kind](session, files[kind])
            audit(session, "roster_import", actor=actor, kind=kind, created=report.created,
                  updated=report.updated, errors=len(report.errors))
            reports.append(report)
    return reports


# --- editing the roster by hand (the admin pages) -----------------------------------------
#
# Each change is audited with ids, field names and reason codes only: names, numbers,
# emails and addresses stay out of the audit log.


class RosterError(ValueError):
    """A roster change that can't be made; the message is safe to show to the admin."""


# Why someone leaves the program; the key becomes Inmate.status, which routing reads
# (postal/matching.py flags a letter from anyone not "active").
LEAVE_REASONS = {
    "released": "released from prison",
    "deceased": "died",
    "withdrew": "asked to stop writing",
    "other": "left for another reason",
}
FACILITY_FIELDS = ("name", "address_line", "city", "state", "zip", "system", "notes")


def _text(value: str, label: str, limit: int, *, required: bool = True) -> str:
    value = " ".join(value.split()) if label != "notes" else value.strip()
    if required and not value:
        raise RosterError(f"{label.replace('_', ' ')} is required")
    if len(value) > limit:
        raise RosterError(f"{label.replace('_', ' ')} is longer than {limit} characters")
    return value


def _changed(obj: object, values: dict[str, object]) -> list[str]:
    names = [key for key, value in values.items() if getattr(obj, key) != value]
    for key in names:
        setattr(obj, key, values[key])
    return names


def _get(session: Session, model: type, row_id: int, what: str):  # the row
    row = session.get(model, row_id)
    if row is None:
        raise RosterError(f"no such {what}")
    return row


def save_facility(
    session: Session, *, actor: str, facility_id: int | None = None, **fields: str
) -> Facility:
    """Add a facility (no id) or change one. `fields`: FACILITY_FIELDS."""
    system = fields.get("system", "").strip().lower()
    if not (system == "federal" or (len(system) == 2 and system.isalpha())):
        raise RosterError("system must be 'federal' or a two-letter state code")
    values: dict[str, object] = {
        "name": _text(fields.get("name", ""), "name", 200),
        "address_line": _text(fields.get("address_line", ""), "address_line", 200),
        "city": _text(fields.get("city", ""), "city", 100),
        "state": _text(fields.get("state", ""), "state", 20).upper(),
        "zip": _text(fields.get("zip", ""), "zip", 20),
        "system": system,
        "notes": _text(fields.get("notes", ""), "notes", 5000, required=False),
    }
    same_name = session.scalar(select(Facility).where(Facility.name == values["name"]))
    if same_name is not None and same_name.id != facility_id:
        raise RosterError("another facility has that name")
    if facility_id is None:
        facility = Facility(**values)
        session.add(facility)
        session.flush()
        audit(session, "facility_added", actor=actor, facility_id=facility.id)
        return facility
    facility = _get(session, Facility, facility_id, "facility")
    changed = _changed(facility, values)
    if changed:
        audit(session, "facility_updated", actor=actor, facility_id=facility.id, fields=changed)
    return facility


def set_facility_active(session: Session, facility_id: int, *, active: bool, actor: str) -> Facility:
    facility = _get(session, Facility, facility_id, "facility")
    if not active:
        still_there = session.scalar(
            select(func.count())
            .select_from(Inmate)
            .where(Inmate.facility_id == facility.id, Inmate.active.is_(True))
        )
        if still_there:
            raise RosterError(
                f"{still_there} people in the program are still at this facility; "
                "record their transfers first"
            )
    if facility.active != active:
        facility.active = active
        audit(
            session, "facility_reopened" if active else "facility_closed",
            actor=actor, facility_id=facility.id,
        )
    return facility


def _active_facility(session: Session, facility_id: int | None) -> Facility | None:
    if facility_id is None:
        return None
    facility = _get(session, Facility, facility_id, "facility")
    if not facility.active:
        raise RosterError("that facility is closed")
    return facility


def save_inmate(
    session: Session,
    *,
    actor: str,
    inmate_id: int | None = None,
    inmate_number: str,
    name: str,
    facility_id: int | None,
) -> Inmate:
    """Add a person to the roster (no id) or correct one's number, name or facility.
    A facility change of someone already listed is a transfer: see `transfer_inmate`."""
    number = _text(inmate_number, "inmate_number", 40)
    values: dict[str, object] = {
        "inmate_number": number,
        "number_key": _number_key(number),
        "name": _text(name, "name", 200),
    }
    same_number = session.scalar(select(Inmate).where(Inmate.inmate_number == number))
    if same_number is not None and same_number.id != inmate_id:
        raise RosterError("someone else on the roster has that inmate number")
    if inmate_id is None:
        facility = _active_facility(session, facility_id)
        inmate = Inmate(**values, facility_id=facility.id if facility else None,
                        waiting_since=utcnow())  # no pen pal yet
        session.add(inmate)
        session.flush()
        audit(session, "inmate_added", actor=actor, inmate_id=inmate.id)
        return inmate
    inmate = _get(session, Inmate, inmate_id, "person")
    changed = _changed(inmate, values)
    changed = [c for c in changed if c != "number_key"]
    if facility_id != inmate.facility_id:
        transfer_inmate(session, inmate.id, facility_id, actor=actor)
    if changed:
        audit(session, "inmate_updated", actor=actor, inmate_id=inmate.id, fields=changed)
    return inmate


def transfer_inmate(
    session: Session, inmate_id: int, facility_id: int | None, *, actor: str
) -> Inmate:
    """The person moved to another facility: replies go to the new address from now on,
    and a "likely transfer" flag from returned mail is settled."""
    inmate = _get(session, Inmate, inmate_id, "person")
    facility = _active_facility(session, facility_id)
    new_id = facility.id if facility else None
    if new_id == inmate.facility_id:
        raise RosterError("that is already their facility")
    old_id = inmate.facility_id
    inmate.facility_id = new_id
    if inmate.status == "transferred":
        inmate.status = "active"
    inmate.flag_note = ""
    session.flush()
    audit(
        session, "inmate_transferred", actor=actor, inmate_id=inmate.id,
        from_facility_id=old_id, to_facility_id=new_id,
    )
    return inmate


# --- the waiting list: Inmate.waiting_since -----------------------------------------------
#
# Kept by the functions that change a match (not worked out from the matches on every view),
# so the waiting list is read off an index in order.


def matched(inmate: Inmate) -> None:
    """They have a pen pal now: off the waiting list."""
    inmate.waiting_since = None


def now_waiting(session: Session, inmate: Inmate, at: datetime | None = None) -> bool:
    """They may have no pen pal any more: on the waiting list from `at` (now), unless an active
    match remains or they are already waiting (they keep their place). True when waiting."""
    if not inmate.active:
        inmate.waiting_since = None
        return False
    if inmate.waiting_since is not None:
        return True
    if _active_matches(session, inmate_id=inmate.id):
        return False
    inmate.waiting_since = at or utcnow()
    return True


def no_pen_pal_for_letter(session: Session, inmate_id: int) -> None:
    """A letter from this writer found no active pen pal to go to (routing said `no_match`):
    they wait from now, if the roster did not already say so."""
    inmate = session.get(Inmate, inmate_id)
    if inmate is not None and inmate.active and inmate.waiting_since is None:
        inmate.waiting_since = utcnow()


def _end_matches(session: Session, matches: list[Match], reason: str, actor: str) -> int:
    now = utcnow()
    for match in matches:
        match.active = False
        match.ended_at = now
        audit(session, "match_ended", actor=actor, match_id=match.id, inmate_id=match.inmate_id,
              volunteer_id=match.volunteer_id, reason=reason)
    session.flush()
    for inmate in {match.inmate for match in matches}:
        now_waiting(session, inmate, now)
    return len(matches)


def _active_matches(session: Session, **where: int) -> list[Match]:
    query = select(Match).where(Match.active.is_(True))
    if "inmate_id" in where:
        query = query.where(Match.inmate_id == where["inmate_id"])
    if "volunteer_id" in where:
        query = query.where(Match.volunteer_id == where["volunteer_id"])
    return list(session.scalars(query))


def release_inmate(session: Session, inmate_id: int, reason: str, *, actor: str) -> Inmate:
    """The person leaves the program (LEAVE_REASONS): no longer active, their matches end."""
    if reason not in LEAVE_REASONS:
        raise RosterError(f"reason must be one of: {', '.join(LEAVE_REASONS)}")
    inmate = _get(session, Inmate, inmate_id, "person")
    if not inmate.active:
        raise RosterError("they have already left the program")
    inmate.active = False
    inmate.status = reason
    ended = _end_matches(session, _active_matches(session, inmate_id=inmate.id), "inmate_left",
                         actor)
    inmate.waiting_since = None  # not waiting: out of the program
    audit(session, "inmate_left", actor=actor, inmate_id=inmate.id, reason=reason,
          matches_ended=ended)
    return inmate


def return_inmate(session: Session, inmate_id: int, *, actor: str) -> Inmate:
    """Back in the program (re-incarcerated, or left by mistake): active, waiting for a pen pal."""
    inmate = _get(session, Inmate, inmate_id, "person")
    if inmate.active:
        raise RosterError("they are in the program")
    inmate.active = True
    inmate.status = "active"
    now_waiting(session, inmate)  # they wait from now, not from when they first joined
    audit(session, "inmate_returned", actor=actor, inmate_id=inmate.id)
    return inmate


def save_volunteer(
    session: Session, *, actor: str, volunteer_id: int | None = None, email: str, display_name: str
) -> Volunteer:
    email = _text(email, "email", 320).lower()
    if "@" not in email or " " in email:
        raise RosterError("that does not look like an email address")
    values = {"email": email, "display_name": _text(display_name, "display_name", 200)}
    same_email = session.scalar(select(Volunteer).where(func.lower(Volunteer.email) == email))
    if same_email is not None and same_email.id != volunteer_id:
        raise RosterError("another volunteer has that email")
    if volunteer_id is None:
        volunteer = Volunteer(**values, active=True)
        session.add(volunteer)
        session.flush()
        audit(session, "volunteer_added", actor=actor, volunteer_id=volunteer.id)
        return volunteer
    volunteer = _get(session, Volunteer, volunteer_id, "volunteer")
    changed = _changed(volunteer, values)
    if changed:
        audit(session, "volunteer_updated", actor=actor, volunteer_id=volunteer.id, fields=changed)
    return volunteer


def set_volunteer_active(
    session: Session, volunteer_id: int, *, active: bool, actor: str
) -> tuple[Volunteer, int]:
    """A volunteer leaves (their matches end, their writers go back to the waiting list) or
    comes back. Returns (volunteer, matches ended)."""
    volunteer = _get(session, Volunteer, volunteer_id, "volunteer")
    ended = 0
    if volunteer.active == active:
        return volunteer, 0
    volunteer.active = active
    if not active:
        ended = _end_matches(
            session, _active_matches(session, volunteer_id=volunteer.id), "volunteer_left", actor
        )
    audit(session, "volunteer_returned" if active else "volunteer_left", actor=actor,
          volunteer_id=volunteer.id, matches_ended=ended)
    return volunteer, ended


def start_match(session: Session, inmate_id: int, volunteer_id: int, *, actor: str) -> Match:
    """Pair a writer with a volunteer (again, if they wrote before), with a reply code."""
    inmate = _get(session, Inmate, inmate_id, "person")
    volunteer = _get(session, Volunteer, volunteer_id, "volunteer")
    if not inmate.active:
        raise RosterError("they have left the program")
    if not volunteer.active:
        raise RosterError("that volunteer has left the program")
    match = session.scalar(
        select(Match).where(Match.inmate_id == inmate.id, Match.volunteer_id == volunteer.id)
    )
    if match is not None and match.active:
        raise RosterError("they are already matched")
    if match is None:
        match = Match(inmate_id=inmate.id, volunteer_id=volunteer.id, active=True)
        session.add(match)
    match.active, match.ended_at, match.created_at = True, None, utcnow()
    matched(inmate)
    session.flush()
    _ensure_code(session, match)
    audit(session, "match_started", actor=actor, match_id=match.id, inmate_id=inmate.id,
          volunteer_id=volunteer.id)
    return match


def end_match(session: Session, match_id: int, *, actor: str) -> Match:
    match = _get(session, Match, match_id, "match")
    if not match.active:
        raise RosterError("that match has already ended")
    _end_matches(session, [match], "ended_by_admin", actor)
    return match
