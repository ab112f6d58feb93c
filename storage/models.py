"""SQLAlchemy 2 models: roster, users, mail items and their pages, redactions, replies, audit."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    """Short random ids: unguessable, URL-safe, readable in logs."""
    return secrets.token_hex(8)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ItemStatus(StrEnum):
    received = "received"
    processing = "processing"
    needs_review = "needs_review"
    released = "released"
    unrouted = "unrouted"
    quarantined = "quarantined"
    read = "read"


class ReplyStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    approved = "approved"
    returned_to_writer = "returned_to_writer"
    printed = "printed"
    mailed = "mailed"
    returned_by_post = "returned_by_post"


class Role(StrEnum):
    mailroom = "mailroom"
    penpal = "penpal"
    admin = "admin"


class PageKind(StrEnum):
    envelope = "envelope"
    letter = "letter"
    blank = "blank"
    separator = "separator"


class SourceStatus(StrEnum):
    """How far a file has come: received → rasterised → split → done, or quarantined."""

    received = "received"
    rasterised = "rasterised"
    split = "split"
    done = "done"
    quarantined = "quarantined"


# --- roster --------------------------------------------------------------------------


class Facility(Base):
    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    address_line: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(20), default="")
    zip: Mapped[str] = mapped_column(String(20), default="")
    system: Mapped[str] = mapped_column(String(20), default="")  # "federal" or a state code
    # Mail rules. An empty mail address means "use the street address".
    mail_address_line: Mapped[str] = mapped_column(String(200), default="")
    mail_city: Mapped[str] = mapped_column(String(100), default="")
    mail_state: Mapped[str] = mapped_column(String(20), default="")
    mail_zip: Mapped[str] = mapped_column(String(20), default="")
    page_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    postcards_only: Mapped[bool] = mapped_column(Boolean, default=False)
    labels_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    # A closed facility stays for the history of the letters that came from it.
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    inmates: Mapped[list[Inmate]] = relationship(back_populates="facility")


class Inmate(Base):
    __tablename__ = "inmates"
    __table_args__ = (
        # The waiting list: people in the program without a pen pal, the longest waiting first,
        # read off the index in order (no sort over every writer).
        Index("ix_inmates_waiting", "active", "waiting_since", "id"),
        # The roster's pages, by name (id settles equal names, so pages neither skip nor repeat).
        Index("ix_inmates_name", "name", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_number: Mapped[str] = mapped_column(String(40), unique=True)
    # Number with OCR look-alikes folded (O->0, I->1, ...), for tolerant matching.
    number_key: Mapped[str] = mapped_column(String(40), index=True, default="")
    name: Mapped[str] = mapped_column(String(200))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), nullable=True)
    # active | transferred | released | deceased: set from returned mail.
    status: Mapped[str] = mapped_column(String(20), default="active")
    flag_note: Mapped[str] = mapped_column(Text, default="")
    # False once the person has left the program (status then says why: released, deceased...).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When they joined the roster.
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Since when they have had no active pen pal (None while they have one, or have left the
    # program). Set by postal/roster.py: added without a match, last match ended, back in the
    # program, or a letter came with no pen pal to route to; cleared when matched. No column
    # default: the ORM would put it in place of an explicit None.
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    facility: Mapped[Facility | None] = relationship(back_populates="inmates")
    matches: Mapped[list[Match]] = relationship(back_populates="inmate")


class Volunteer(Base):
    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    matches: Mapped[list[Match]] = relationship(back_populates="volunteer")


class Match(Base):
    """One correspondence: an inmate paired with a volunteer. Its code is printed on replies."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("inmate_id", "volunteer_id"),
        # A volunteer's pen pals and how many each has (the unique key leads with the inmate).
        Index("ix_matches_volunteer", "volunteer_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    code: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # When the match last ended: the writer waits for a new pen pal from then on.
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    inmate: Mapped[Inmate] = relationship(back_populates="matches")
    volunteer: Mapped[Volunteer] = relationship(back_populates="matches")


# --- people who log in ---------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"), nullable=True)
    invite_token: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    # When the invitation link stops working (settings.invite_days after it was made).
    invite_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # A password reset an admin started: digest of the one-time token, and when it runs out.
    reset_token: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    reset_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    volunteer: Mapped[Volunteer | None] = relationship()


class UserSession(Base):
    """One login. The cookie holds a random token; only its digest is kept here, so a copy of
    the database opens nothing. Ended sessions stay (ended_at set) for the record."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Keyed digest of the client address: enough to recognise it again, not to read it.
    address_key: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # logout | disabled | password_reset | idle | expired
    end_reason: Mapped[str] = mapped_column(String(20), default="")


class LoginFailure(Base):
    """A failed login, kept for the limiter. Email and address are keyed digests: a password
    typed into the email box is never written down."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account", "account_key", "at"),
        Index("ix_login_failures_address", "address_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    account_key: Mapped[str] = mapped_column(String(64))
    address_key: Mapped[str] = mapped_column(String(64))


# --- incoming mail -------------------------------------------------------------------


class SourceFile(Base):
    """One file handed to ingest. Its SHA-256 is the idempotency key."""

    __tablename__ = "source_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(Integer, default=0)
    blob_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default=SourceStatus.received)
    error: Mapped[str] = mapped_column(Text, default="")
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    # Per-page analysis written by the split step: [{"key":..., "kind":..., ...}]
    pages_info: Mapped[list[Any]] = mapped_column(JSON, default=list)
    uploaded_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MailItem(Base):
    __tablename__ = "mail_items"
    __table_args__ = (
        UniqueConstraint("source_id", "first_source_page"),
        Index("ix_mail_items_status_created", "status", "created_at"),
        # released_at last: a pen pal's inbox comes out of the index already in order.
        Index("ix_mail_items_volunteer_status", "volunteer_id", "status", "released_at"),
        # A writer's letters in the mailroom queue (the waiting list counts them per writer).
        Index("ix_mail_items_inmate_status", "inmate_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(ForeignKey("source_files.id"))
    first_source_page: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default=ItemStatus.received, index=True)
    # Last pipeline stage finished, so a re-run resumes instead of starting over.
    stage: Mapped[str] = mapped_column(String(30), default="")
    review_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    quarantine_reason: Mapped[str] = mapped_column(Text, default="")
    # What the envelope said (OCR), and how sure we are.
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    sender_number: Mapped[str] = mapped_column(String(40), default="")
    sender_facility: Mapped[str] = mapped_column(String(200), default="")
    sender_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    # What the roster match decided.
    inmate_id: Mapped[int | None] = mapped_column(ForeignKey("inmates.id"), nullable=True)
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"), nullable=True)
    match_reason: Mapped[str] = mapped_column(Text, default="")
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)  # e.g. ["likely_transfer"]
    language: Mapped[str] = mapped_column(String(10), default="")
    archive_pdf_key: Mapped[str] = mapped_column(String(300), default="")
    delivered_pdf_key: Mapped[str] = mapped_column(String(300), default="")
    review_note: Mapped[str] = mapped_column(Text, default="")
    flow_run_id: Mapped[str] = mapped_column(String(64), default="")
    notified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The notification outbox: a released letter with no `notified_at` still owes its email.
    # A sender claims it first (a lease), so two processes never both send it.
    notify_claimed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    source: Mapped[SourceFile] = relationship()
    inmate: Mapped[Inmate | None] = relationship()
    volunteer: Mapped[Volunteer | None] = relationship()
    pages: Mapped[list[Page]] = relationship(
        back_populates="item", order_by="Page.index", cascade="all, delete-orphan"
    )


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("item_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("mail_items.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)  # 1-based within the item
    source_page: Mapped[int] = mapped_column(Integer, default=1)  # 1-based within the file
    kind: Mapped[str] = mapped_column(String(20), default=PageKind.letter)
    image_key: Mapped[str] = mapped_column(String(300), default="")  # rasterised original
    clean_key: Mapped[str] = mapped_column(String(300), default="")  # preprocessed
    redacted_key: Mapped[str] = mapped_column(String(300), default="")  # as delivered
    words_key: Mapped[str] = mapped_column(String(300), default="")  # OCR words JSON
    text: Mapped[str] = mapped_column(Text, default="")
    redacted_text: Mapped[str] = mapped_column(Text, default="")
    corrected_text: Mapped[str] = mapped_column(Text, default="")  # a person's transcription
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    needs_transcription: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(10), default="")
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    skew: Mapped[float] = mapped_column(Float, default=0.0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)  # redaction re-check passed
    stage: Mapped[str] = mapped_column(String(30), default="")

    item: Mapped[MailItem] = relationship(back_populates="pages")
    redactions: Mapped[list[Redaction]] = relationship(
        back_populates="page", cascade="all, delete-orphan"
    )


class Redaction(Base):
    """A box burned into a delivered page. Never stores the removed value."""

    __tablename__ = "redactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    x0: Mapped[int] = mapped_column(Integer)
    y0: Mapped[int] = mapped_column(Integer)
    x1: Mapped[int] = mapped_column(Integer)
    y1: Mapped[int] = mapped_column(Integer)
    made_by: Mapped[str] = mapped_column(String(320), default="auto")  # "auto" or a user email
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    page: Mapped[Page] = relationship(back_populates="redactions")

    @property
    def box(self) -> list[int]:
        return [self.x0, self.y0, self.x1, self.y1]


class WatchTerm(Base):
    """A program-specific term an admin wants redacted wherever it appears."""

    __tablename__ = "watch_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# --- outgoing mail -------------------------------------------------------------------


class PrintBatch(Base):
    __tablename__ = "print_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    out_dir: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default="printed")  # printed | mailed
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    mailed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Reply(Base):
    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_status", "status"),
        # The web app: a letter's replies, and a volunteer's replies to one person.
        Index("ix_replies_item", "item_id"),
        Index("ix_replies_volunteer_inmate", "volunteer_id", "inmate_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    item_id: Mapped[str | None] = mapped_column(ForeignKey("mail_items.id"), nullable=True)
    inmate_id: Mapped[int] = mapped_column(ForeignKey("inmates.id"))
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(30), default=ReplyStatus.draft)
    note: Mapped[str] = mapped_column(Text, default="")  # why it was returned / refused
    check_problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    code: Mapped[str] = mapped_column(String(16), default="")
    pdf_key: Mapped[str] = mapped_column(String(300), default="")
    pages: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("print_batches.id"), nullable=True)
    print_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    printed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    mailed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    item: Mapped[MailItem | None] = relationship()
    inmate: Mapped[Inmate] = relationship()
    volunteer: Mapped[Volunteer] = relationship()
    batch: Mapped[PrintBatch | None] = relationship()


# --- audit ---------------------------------------------------------------------------


class AuditEvent(Base):
    """Who did what, when. `detail` never holds a redacted value or letter text."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_item", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))  # "system", "auto" or a user email
    action: Mapped[str] = mapped_column(String(60), index=True)
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reply_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
