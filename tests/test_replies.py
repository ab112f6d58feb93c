"""Replies from draft to approval: personal-detail checks, facility rules, returned mail."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from postal import replies
from postal.replies import ReplyRefused
from storage.blobs import get_blob_store
from storage.db import session_scope
from storage.models import (
    AuditEvent,
    Facility,
    Inmate,
    MailItem,
    Match,
    Reply,
    ReplyStatus,
    SourceFile,
    Volunteer,
)

LONG_TEXT = "\n\n".join(
    f"Part {n}. " + "I thought about your letter on the way to work today. " * 14
    for n in range(1, 13)
)


def build_world(session) -> dict:  # Session
    """A federal facility with a PO box for mail, one inmate, two volunteers, one match,
    and a letter from the inmate routed to Ana."""
    facility = Facility(name="FCI Englewood", address_line="9595 West Quincy Avenue",
                        city="Littleton", state="CO", zip="80123", system="federal",
                        mail_address_line="PO Box 1000")
    inmate = Inmate(name="José Martínez", inmate_number="12345-678", number_key="12345678",
                    facility=facility)
    ana = Volunteer(email="ana.perez@example.org", display_name="Ana P.")
    bo = Volunteer(email="bo@example.org", display_name="Bo")
    session.add_all([facility, inmate, ana, bo])
    session.flush()
    session.add(Match(inmate_id=inmate.id, volunteer_id=ana.id))
    source = SourceFile(sha256="0" * 64, filename="scan.pdf", blob_key="originals/00/x")
    session.add(source)
    session.flush()
    item = MailItem(source_id=source.id, inmate_id=inmate.id, volunteer_id=ana.id,
                    status="released")
    session.add(item)
    session.flush()
    return {"facility": facility, "inmate": inmate, "ana": ana, "bo": bo, "item": item}


def submitted(session, world: dict, text: str, **kwargs) -> Reply:
    reply = replies.save_draft(session, volunteer_id=world["ana"].id, text=text,
                               item_id=world["item"].id, actor="ana", **kwargs)
    return replies.submit(session, reply.id, actor="ana")


def test_draft_submit_approve_renders_the_pdf(lb_home: Path) -> None:
    """GIVEN Ana's draft answer to José's letter, edited once
    WHEN she submits it and an admin approves it
    THEN it is approved with the match's reply code, a stored PDF and its page count,
    AND the audit trail names the reply without its text."""
    with session_scope() as session:
        world = build_world(session)
        draft = replies.save_draft(session, volunteer_id=world["ana"].id, text="Hola José",
                                   item_id=world["item"].id, actor="ana")
        assert draft.inmate_id == world["inmate"].id and draft.status == ReplyStatus.draft
        replies.save_draft(session, volunteer_id=world["ana"].id, reply_id=draft.id,
                           text="Hola José, gracias por tu carta.", actor="ana")
        reply = replies.submit(session, draft.id, actor="ana")
        assert reply.status == ReplyStatus.submitted and reply.check_problems == []
        reply = replies.approve(session, draft.id, actor="admin@example.org")
        match = session.scalar(select(Match))

        assert reply.status == ReplyStatus.approved
        assert reply.code and reply.code == match.code
        assert reply.pages == 1
        assert get_blob_store().get(reply.pdf_key).startswith(b"%PDF")
        events = session.scalars(select(AuditEvent).where(AuditEvent.reply_id == draft.id)).all()
        assert [e.action for e in events][-1] == "reply_approved"
        assert all("gracias" not in str(e.detail) for e in events)


def test_personal_details_in_a_reply_are_flagged_by_kind(lb_home: Path) -> None:
    """GIVEN a reply in which the volunteer gives her phone number, email and home address
    WHEN it is submitted and then approved
    THEN the stored problems name the kinds (never the values) and approval is refused."""
    text = ("Hola José. Call me at (312) 555-0142 or write to ana.perez@example.org. "
            "My house is at 1420 Maple Street, Oak Park.")
    with session_scope() as session:
        reply = submitted(session, build_world(session), text)
        problems = " ".join(reply.check_problems)
        for kind in ("a phone number", "an email address", "a street address"):
            assert kind in problems
        for value in ("555-0142", "ana.perez", "Maple"):
            assert value not in problems
        with pytest.raises(ReplyRefused) as refused:
            replies.approve(session, reply.id, actor="admin")
        assert "phone number" in refused.value.reason
        assert session.get(Reply, reply.id).status == ReplyStatus.submitted


def test_the_programs_own_address_and_the_recipients_number_are_not_flagged(
    lb_home: Path,
) -> None:
    """GIVEN a reply that quotes the program's PO box and José's own register number
    WHEN it is checked
    THEN nothing is flagged: those belong on a reply."""
    text = "Write to us at PO Box 1000, Springfield, IL 62701. Your number 12345-678 is right."
    with session_scope() as session:
        reply = submitted(session, build_world(session), text)
        assert reply.check_problems == []


def test_a_page_limit_stops_an_over_long_reply_with_a_clear_message(lb_home: Path) -> None:
    """GIVEN a facility that allows 2 pages per letter
    WHEN a reply that needs 4 pages is approved, and then a one-page reply
    THEN the long one is refused with "allows 2 pages; this reply needs 4", the short one passes."""
    with session_scope() as session:
        world = build_world(session)
        world["facility"].page_limit = 2
        long_reply = submitted(session, world, LONG_TEXT)
        with pytest.raises(ReplyRefused) as refused:
            replies.approve(session, long_reply.id, actor="admin")
        assert refused.value.reason == "Facility FCI Englewood allows 2 pages; this reply needs 4"
        assert long_reply.check_problems == [refused.value.reason]

        short = submitted(session, world, "Hola José, una nota corta.")
        assert replies.approve(session, short.id, actor="admin").status == ReplyStatus.approved


def test_postcards_only_and_missing_match_are_refused(lb_home: Path) -> None:
    """GIVEN a facility that takes postcards only, and Bo who has no match with José
    WHEN their replies are checked
    THEN each problem is named."""
    with session_scope() as session:
        world = build_world(session)
        world["facility"].postcards_only = True
        bo_reply = replies.save_draft(session, volunteer_id=world["bo"].id, text="Hi José",
                                      inmate_id=world["inmate"].id, actor="bo")
        problems = replies.check_reply(session, bo_reply)
        assert "Facility FCI Englewood accepts postcards only; a letter can't be sent" in problems
        assert any("no active pen-pal match" in p for p in problems)


def test_a_letter_routed_to_someone_else_cant_be_answered(lb_home: Path) -> None:
    """GIVEN José's letter routed to Ana
    WHEN Bo tries to start a reply to it
    THEN he is refused."""
    with session_scope() as session:
        world = build_world(session)
        with pytest.raises(ReplyRefused, match="not routed to this volunteer"):
            replies.save_draft(session, volunteer_id=world["bo"].id, text="Hi",
                               item_id=world["item"].id, actor="bo")


def test_return_to_writer_then_resubmit(lb_home: Path) -> None:
    """GIVEN an approved reply
    WHEN the admin returns it with a note, and Ana edits and submits it again
    THEN its PDF is gone while returned, the note is kept, and it can be approved again."""
    with session_scope() as session:
        world = build_world(session)
        reply = submitted(session, world, "Hola José")
        replies.approve(session, reply.id, actor="admin")
        old_key = reply.pdf_key
        replies.return_to_writer(session, reply.id, "Please add a greeting", actor="admin")
        assert reply.status == ReplyStatus.returned_to_writer
        assert reply.note == "Please add a greeting" and reply.pdf_key == ""
        assert not get_blob_store().exists(old_key)
        replies.save_draft(session, volunteer_id=world["ana"].id, reply_id=reply.id,
                           text="Querido José, hola.", actor="ana")
        replies.submit(session, reply.id, actor="ana")
        assert replies.approve(session, reply.id, actor="admin").status == ReplyStatus.approved


def test_keyed_in_replies_and_approve_all(lb_home: Path) -> None:
    """GIVEN two replies keyed in from paper for José's letter, one with a phone number
    WHEN the admin approves all
    THEN the clean one is approved and the other refused with its reason."""
    with session_scope() as session:
        world = build_world(session)
        good = replies.add_from_text(session, item_id=world["item"].id,
                                     author_email="ANA.PEREZ@example.org", text="Hola José",
                                     actor="admin")
        bad = replies.add_from_text(session, item_id=world["item"].id,
                                    author_email="ana.perez@example.org",
                                    text="Llámame al 312-555-0142", actor="admin")
        assert good.status == bad.status == ReplyStatus.submitted
        assert good.volunteer_id == world["ana"].id and good.inmate_id == world["inmate"].id

        approved, refused = replies.approve_all(session, actor="admin")
        assert [r.id for r in approved] == [good.id]
        assert [(r.id, "phone number" in reason) for r, reason in refused] == [(bad.id, True)]


def test_returned_mail_flags_the_correspondent(lb_home: Path) -> None:
    """GIVEN a printed reply that the post returns because José was transferred
    WHEN the return is recorded
    THEN the reply is returned_by_post, José is marked transferred with a note,
    AND the next reply to him is refused until the roster is fixed."""
    with session_scope() as session:
        world = build_world(session)
        reply = submitted(session, world, "Hola José")
        replies.approve(session, reply.id, actor="admin")
        reply.status = ReplyStatus.printed  # as build_print_batch leaves it
        replies.record_returned_mail(session, reply.id, "transferred", actor="admin")

        assert reply.status == ReplyStatus.returned_by_post
        inmate = session.get(Inmate, world["inmate"].id)
        assert inmate.status == "transferred" and "transferred" in inmate.flag_note
        follow_up = submitted(session, world, "¿Dónde estás ahora?")
        assert any("marked transferred" in p for p in follow_up.check_problems)
        with pytest.raises(ReplyRefused, match="marked transferred"):
            replies.approve(session, follow_up.id, actor="admin")
