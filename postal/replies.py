"""Replies from draft to paper: save, submit, check, approve or return; mail that comes back.

Every function works in the caller's session and leaves an audit event that names the reply,
never its text. States: draft → submitted → approved | returned_to_writer → printed → mailed
(→ returned_by_post).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import Settings, get_settings
from ocr.pii import find_in_text
from postal.codes import ensure_code
from postal.facility_rules import facility_problems
from postal.reply_pdf import count_pages, render_with_pages
from storage.blobs import get_blob_store
from storage.db import audit
from storage.models import (
    Inmate,
    MailItem,
    Match,
    Reply,
    ReplyStatus,
    Volunteer,
    WatchTerm,
    utcnow,
)

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 40_000
EDITABLE = (ReplyStatus.draft, ReplyStatus.returned_to_writer)
RETURN_REASONS = ("transferred", "released", "refused", "unknown")
NO_MATCH = "There is no active pen-pal match between this volunteer and the recipient"

# How a finder's kind reads in a message to the writer.
PII_WORDS = {
    "phone": "a phone number",
    "email": "an email address",
    "address": "a street address",
    "ssn": "a Social Security number",
    "card": "a card number",
    "bank": "a bank account number",
    "inmate_number": "another person's inmate number",
    "watch_term": "a term the program keeps private",
    "number": "a long number (an account, an id, a phone number?)",
}
# While check_reply renders a reply that has no code yet, a stand-in of the same width
# keeps the page count honest (approve counts again with the real code).
_CODE_STAND_IN = "XXXXXX"


class ReplyRefused(Exception):
    """The reply can't take that step; `reason` is the text shown to the person who asked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReplyNotFound(ReplyRefused):
    """No reply (or letter, volunteer, inmate) by that id."""


@dataclass(frozen=True)
class Problem:
    """One reason a reply can't be mailed: a stable code for the audit log, words for people."""

    code: str
    message: str


def pdf_key(reply_id: str) -> str:
    return f"replies/{reply_id}.pdf"


def _reply(session: Session, reply_id: str) -> Reply:
    reply = session.get(Reply, reply_id)
    if reply is None:
        raise ReplyNotFound(f"No reply with id {reply_id}")
    return reply


def _active_match(session: Session, reply: Reply) -> Match | None:
    return session.scalar(
        select(Match).where(
            Match.inmate_id == reply.inmate_id,
            Match.volunteer_id == reply.volunteer_id,
            Match.active.is_(True),
        )
    )


# --- writing ---------------------------------------------------------------------------


def save_draft(
    session: Session,
    *,
    volunteer_id: int,
    text: str,
    item_id: str | None = None,
    inmate_id: int | None = None,
    reply_id: str | None = None,
    actor: str,
) -> Reply:
    """Create a draft (to the sender of `item_id`, or to `inmate_id`), or update one."""
    if len(text) > MAX_REPLY_CHARS:
        raise ReplyRefused(f"A reply can be at most {MAX_REPLY_CHARS} characters long")
    if reply_id is not None:
        reply = _reply(session, reply_id)
        if reply.volunteer_id != volunteer_id:
            raise ReplyRefused("This reply belongs to another volunteer")
        if reply.status not in EDITABLE:
            raise ReplyRefused(f"A reply that is {reply.status} can't be edited")
        reply.text = text
        audit(session, "reply_draft_saved", actor=actor, reply_id=reply.id, chars=len(text))
        return reply

    if session.get(Volunteer, volunteer_id) is None:
        raise ReplyNotFound(f"No volunteer with id {volunteer_id}")
    item = None
    if item_id is not None:
        item = session.get(MailItem, item_id)
        if item is None:
            raise ReplyNotFound(f"No letter with id {item_id}")
        if item.volunteer_id is not None and item.volunteer_id != volunteer_id:
            raise ReplyRefused("That letter was not routed to this volunteer")
        if inmate_id is not None and item.inmate_id is not None and inmate_id != item.inmate_id:
            raise ReplyRefused("The recipient is not the sender of that letter")
        inmate_id = inmate_id or item.inmate_id
    if inmate_id is None:
        raise ReplyRefused(
            "The sender of that letter is not known yet; the mailroom must match it to the roster"
        )
    if session.get(Inmate, inmate_id) is None:
        raise ReplyNotFound(f"No inmate with id {inmate_id}")
    reply = Reply(
        item_id=item_id,
        inmate_id=inmate_id,
        volunteer_id=volunteer_id,
        text=text,
        status=ReplyStatus.draft,
    )
    session.add(reply)
    session.flush()
    audit(session, "reply_draft_saved", actor=actor, reply_id=reply.id, item_id=item_id,
          chars=len(text))
    return reply


def submit(session: Session, reply_id: str, *, actor: str) -> Reply:
    """Hand the reply to the mailroom. Problems found are stored for the approver, not enforced."""
    reply = _reply(session, reply_id)
    if reply.status not in EDITABLE:
        raise ReplyRefused(f"A reply that is {reply.status} can't be submitted")
    if not reply.text.strip():
        raise ReplyRefused("The reply is empty")
    pages = _count_pages_for_check(reply, get_settings())
    problems = _problems(session, reply, pages=pages)
    reply.check_problems = [p.message for p in problems]
    reply.pages = pages  # so the approver sees the length before the PDF exists
    reply.status = ReplyStatus.submitted
    reply.submitted_at = utcnow()
    reply.note = ""
    audit(session, "reply_submitted", actor=actor, reply_id=reply.id, item_id=reply.item_id,
          problems=[p.code for p in problems])
    return reply


def add_from_text(
    session: Session, *, item_id: str, author_email: str, text: str, actor: str
) -> Reply:
    """A reply sent by email or on paper, keyed in by an admin: submitted, to the sender."""
    item = session.get(MailItem, item_id)
    if item is None:
        raise ReplyNotFound(f"No letter with id {item_id}")
    if item.inmate_id is None:
        raise ReplyRefused(
            "The sender of that letter is not known yet; the mailroom must match it to the roster"
        )
    volunteer = session.scalar(
        select(Volunteer).where(Volunteer.email.ilike(author_email.strip()))
    )
    if volunteer is None:
        raise ReplyNotFound(f"No volunteer with email {author_email}")
    # An admin keys this in, so the letter may have been routed to someone else; the
    # checks still require an active match between writer and recipient.
    if len(text) > MAX_REPLY_CHARS:
        raise ReplyRefused(f"A reply can be at most {MAX_REPLY_CHARS} characters long")
    reply = Reply(
        item_id=item.id, inmate_id=item.inmate_id, volunteer_id=volunteer.id, text=text,
        status=ReplyStatus.draft,
    )
    session.add(reply)
    session.flush()
    audit(session, "reply_keyed_in", actor=actor, reply_id=reply.id, item_id=item.id,
          chars=len(text))
    return submit(session, reply.id, actor=actor)


# --- checking --------------------------------------------------------------------------


def _pii_problems(session: Session, reply: Reply, settings: Settings) -> list[Problem]:
    recipient_number = reply.inmate.inmate_number
    watch_terms = tuple(session.scalars(select(WatchTerm.term)))
    others = tuple(
        n for n in session.scalars(select(Inmate.inmate_number)) if n != recipient_number
    )
    text = reply.text
    # The program's own return address may be quoted ("write to us at PO Box 1000").
    program_address = _compact(" ".join(settings.program_return_lines))
    kinds: list[str] = []
    for finding in find_in_text(
        text, sender_number=recipient_number, watch_terms=watch_terms,
        known_inmate_numbers=others,
    ):
        value = _compact(text[finding.start:finding.end])
        if finding.kind == "address" and len(value) >= 4 and value in program_address:
            continue
        if finding.kind not in kinds:
            kinds.append(finding.kind)
    email = reply.volunteer.email.casefold()
    if email and email in text.casefold() and "email" not in kinds:
        kinds.append("email")
    if not kinds:
        return []
    words = ", ".join(PII_WORDS.get(kind, kind.replace("_", " ")) for kind in kinds)
    return [Problem(
        "pii:" + ",".join(kinds),
        f"Personal details in the text: {words}. Volunteers never share contact details; "
        "remove them (the program's return address is printed on every reply)",
    )]


def _compact(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _problems(session: Session, reply: Reply, *, pages: int | None = None) -> list[Problem]:
    settings = get_settings()
    problems: list[Problem] = []
    if not reply.text.strip():
        problems.append(Problem("empty", "The reply is empty"))
    problems.extend(_pii_problems(session, reply, settings))

    inmate = reply.inmate
    if inmate.status != "active":
        problems.append(Problem(
            f"inmate_{inmate.status}",
            f"The recipient is marked {inmate.status} (from returned mail); "
            "check the roster before sending",
        ))
    if _active_match(session, reply) is None:
        problems.append(Problem("no_match", NO_MATCH))
    if not reply.volunteer.active:
        problems.append(Problem("volunteer_inactive", "The volunteer is no longer active"))

    if pages is None:
        pages = _count_pages_for_check(reply, settings)
    for message in facility_problems(inmate.facility, pages=pages):
        problems.append(Problem("facility_rule", message))
    return problems


def _count_pages_for_check(reply: Reply, settings: Settings) -> int:
    return count_pages(reply, settings, code=reply.code or _CODE_STAND_IN)


def check_reply(session: Session, reply: Reply) -> list[str]:
    """Why this reply can't be mailed yet, in words (personal details by kind, never the value)."""
    return [p.message for p in _problems(session, reply)]


# --- deciding --------------------------------------------------------------------------


def _refuse(session: Session, reply: Reply, problems: list[Problem], actor: str) -> None:
    reply.check_problems = [p.message for p in problems]
    audit(session, "reply_refused", actor=actor, reply_id=reply.id,
          problems=[p.code for p in problems])
    raise ReplyRefused("; ".join(p.message for p in problems))


def approve(session: Session, reply_id: str, *, actor: str) -> Reply:
    """Approve a submitted reply that passes every check, and render its PDF for printing."""
    reply = _reply(session, reply_id)
    if reply.status != ReplyStatus.submitted:
        raise ReplyRefused(f"Only a submitted reply can be approved; this one is {reply.status}")
    problems = _problems(session, reply)
    if problems:
        _refuse(session, reply, problems, actor)
    match = _active_match(session, reply)
    if match is None:  # _problems refused it already; the match may have ended since
        raise ReplyRefused(NO_MATCH)
    reply.code = ensure_code(session, match)
    reply.approved_at = utcnow()
    data, pages = render_with_pages(reply)
    # Counted again with the real code and date, in case the last line moved to a new page.
    late = facility_problems(reply.inmate.facility, pages=pages)
    if late:
        reply.approved_at = None
        _refuse(session, reply, [Problem("facility_rule", m) for m in late], actor)
    key = pdf_key(reply.id)
    get_blob_store().put(key, data, "application/pdf")
    reply.pdf_key = key
    reply.pages = pages
    reply.check_problems = []
    reply.status = ReplyStatus.approved
    audit(session, "reply_approved", actor=actor, reply_id=reply.id, pages=pages)
    return reply


def return_to_writer(session: Session, reply_id: str, note: str, *, actor: str) -> Reply:
    """Send the reply back to its writer with a note saying what to change."""
    reply = _reply(session, reply_id)
    if reply.status not in (ReplyStatus.submitted, ReplyStatus.approved):
        raise ReplyRefused(f"A reply that is {reply.status} can't be returned to its writer")
    if not note.strip():
        raise ReplyRefused("Say what the writer should change")
    if reply.pdf_key:
        get_blob_store().delete(reply.pdf_key)
    reply.pdf_key = ""
    reply.pages = 0
    reply.approved_at = None
    reply.status = ReplyStatus.returned_to_writer
    reply.note = note.strip()
    audit(session, "reply_returned_to_writer", actor=actor, reply_id=reply.id,
          note_chars=len(reply.note))
    return reply


def approve_all(session: Session, *, actor: str) -> tuple[list[Reply], list[tuple[Reply, str]]]:
    """Approve every submitted reply that passes; return (approved, [(refused, reason)])."""
    approved: list[Reply] = []
    refused: list[tuple[Reply, str]] = []
    waiting = session.scalars(
        select(Reply)
        .where(Reply.status == ReplyStatus.submitted)
        .order_by(Reply.submitted_at, Reply.created_at, Reply.id)
    ).all()
    for reply in waiting:
        try:
            approved.append(approve(session, reply.id, actor=actor))
        except ReplyRefused as exc:
            refused.append((reply, exc.reason))
    return approved, refused


# --- after the post --------------------------------------------------------------------


def record_returned_mail(session: Session, reply_id: str, reason: str, *, actor: str) -> Reply:
    """The post brought a reply back. Transferred/released mark the recipient: nothing more is sent.

    `refused` (the mailroom rejected it) and `unknown` only leave a flag note: the address
    may still be right, and an admin decides.
    """
    if reason not in RETURN_REASONS:
        raise ReplyRefused(f"Reason must be one of {', '.join(RETURN_REASONS)}")
    reply = _reply(session, reply_id)
    if reply.status not in (ReplyStatus.printed, ReplyStatus.mailed):
        raise ReplyRefused(f"Only printed or mailed replies come back by post; this one is "
                           f"{reply.status}")
    reply.status = ReplyStatus.returned_by_post
    reply.note = f"Returned by post: {reason}"
    inmate = reply.inmate
    if reason in ("transferred", "released"):
        inmate.status = reason
    inmate.flag_note = (
        f"Mail returned {utcnow():%Y-%m-%d} ({reason}), reply {reply.id}; "
        + ("check the roster before writing again" if reason in ("transferred", "released")
           else "check the facility's mail rules")
    )
    audit(session, "reply_returned_by_post", actor=actor, reply_id=reply.id, reason=reason,
          inmate_id=inmate.id)
    return reply
