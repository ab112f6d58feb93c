"""Roster import from CSV: facilities, inmates, volunteers, matches. Re-import updates, never duplicates."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import audit
from storage.models import Facility, Inmate, Match, Volunteer

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
    try:
        from postal.inmate_numbers import fold
    except ImportError:  # pragma: no cover - routing module not present
        return "".join(ch for ch in number.upper() if ch.isalnum())
    return fold(number)


def _rows(path: Path, kind: str):  # noqa: ANN202 - generator of (line, row)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS[kind] if c not in header]
        if missing:
            raise RosterFileError(f"{path.name}: missing column(s) {', '.join(missing)}")
        reader.fieldnames = header
        for row in reader:
            cleaned = {k: (v or "").strip() for k, v in row.items() if k}
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
            session.add(Inmate(inmate_number=number, **values))
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
        session.flush()
        _ensure_code(session, match)
    return report


def _ensure_code(session: Session, match: Match) -> None:
    try:
        from postal.codes import ensure_code
    except ImportError:  # pragma: no cover - codes module not present
        return
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
