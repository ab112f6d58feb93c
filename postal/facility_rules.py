"""Facility mail rules: where general mail goes, how the recipient block reads, what is refused."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import audit
from storage.models import Facility, Inmate

# What the number on line one is called, per prison system. Mailrooms match this line
# against their roster, so the label follows each system's own published format.
_NUMBER_LABELS = {
    "federal": "Reg. No.",
    "ca": "CDCR #",
    "tx": "TDCJ #",
    "ny": "DIN",
    "il": "IDOC #",
    "fl": "DC #",
    "pa": "Inmate #",
}


@dataclass(frozen=True)
class MailAddress:
    """The address general correspondence goes to (a vendor's PO box may differ from the street)."""

    line: str
    city: str
    state: str
    zip: str

    @property
    def last_line(self) -> str:
        return f"{self.city}, {self.state} {self.zip}".strip(", ")

    @property
    def complete(self) -> bool:
        return bool(self.line and self.city and self.state and self.zip)


def mail_address(facility: Facility) -> MailAddress:
    """Where letters go: the facility's mail_* fields when set, else its street address."""
    if facility.mail_address_line:
        return MailAddress(
            facility.mail_address_line,
            facility.mail_city or facility.city,
            facility.mail_state or facility.state,
            facility.mail_zip or facility.zip,
        )
    return MailAddress(facility.address_line, facility.city, facility.state, facility.zip)


def number_label(facility: Facility | None) -> str:
    system = (facility.system if facility else "").strip().lower()
    return _NUMBER_LABELS.get(system, "#")


def recipient_id_line(inmate: Inmate) -> str:
    """Line one of the recipient block: name and number, the way the facility's system writes it."""
    label = number_label(inmate.facility)
    if label == "#":
        return f"{inmate.name} #{inmate.inmate_number}"
    if label.endswith("#"):
        return f"{inmate.name}, {label}{inmate.inmate_number}"
    return f"{inmate.name}, {label} {inmate.inmate_number}"


def recipient_block(inmate: Inmate) -> list[str]:
    """Recipient lines for the letter and its envelope or label.

    Federal (Bureau of Prisons): name and register number, facility, PO box or mail
    address, city, state and ZIP. State systems use the same shape with their own number
    label; the mail address may be a vendor's processing centre in another state.
    """
    lines = [recipient_id_line(inmate)]
    facility = inmate.facility
    if facility is None:
        return lines
    address = mail_address(facility)
    lines.append(facility.name)
    if address.line:
        lines.extend(part.strip() for part in address.line.split("\n") if part.strip())
    if address.last_line:
        lines.append(address.last_line)
    return lines


def facility_problems(facility: Facility | None, *, pages: int) -> list[str]:
    """Why this facility would refuse a letter of `pages` pages, in words an admin can act on."""
    if facility is None:
        return ["The recipient has no facility on the roster, so there is no address to mail to"]
    problems: list[str] = []
    if facility.postcards_only:
        problems.append(f"Facility {facility.name} accepts postcards only; a letter can't be sent")
    if facility.page_limit is not None and facility.page_limit > 0 and pages > facility.page_limit:
        allowed = "1 page" if facility.page_limit == 1 else f"{facility.page_limit} pages"
        problems.append(f"Facility {facility.name} allows {allowed}; this reply needs {pages}")
    if not mail_address(facility).complete:
        problems.append(f"Facility {facility.name} has no complete mailing address")
    return problems


class FacilityNotFound(LookupError):
    """No facility by that name."""


_UNSET = object()


def set_rules(
    session: Session,
    name: str,
    *,
    actor: str,
    mail_address_line: str | None = None,
    mail_city: str | None = None,
    mail_state: str | None = None,
    mail_zip: str | None = None,
    page_limit: int | None | object = _UNSET,
    postcards_only: bool | None = None,
    labels_allowed: bool | None = None,
    notes: str | None = None,
) -> Facility:
    """Change a facility's mail rules; arguments left as None (page_limit: unset) stay as they are.

    `page_limit=0` or `None` removes the limit.
    """
    facility = session.scalar(select(Facility).where(Facility.name == name))
    if facility is None:
        raise FacilityNotFound(f"No facility named {name!r}")
    changed: list[str] = []
    for field_name, value in (
        ("mail_address_line", mail_address_line),
        ("mail_city", mail_city),
        ("mail_state", mail_state),
        ("mail_zip", mail_zip),
        ("postcards_only", postcards_only),
        ("labels_allowed", labels_allowed),
        ("notes", notes),
    ):
        if value is not None and getattr(facility, field_name) != value:
            setattr(facility, field_name, value)
            changed.append(field_name)
    if page_limit is not _UNSET:
        limit = page_limit or None
        if facility.page_limit != limit:
            facility.page_limit = limit  # type: ignore[assignment]
            changed.append("page_limit")
    if changed:
        audit(session, "facility_rules_changed", actor=actor, facility_id=facility.id,
              fields=changed)
    return facility
