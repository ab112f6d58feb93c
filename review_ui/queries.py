"""The read-only questions the pages ask the database: a few queries each, never one per row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, tuple_
from sqlalchemy.orm import Session, joinedload, selectinload

from storage.models import (
    AuditEvent,
    Facility,
    Inmate,
    ItemStatus,
    MailItem,
    Match,
    Page,
    PageKind,
    Reply,
    ReplyStatus,
    SourceFile,
    User,
    Volunteer,
    utcnow,
)

QUEUE_STATUSES = (ItemStatus.needs_review.value, ItemStatus.unrouted.value)
PENPAL_STATUSES = (ItemStatus.released.value, ItemStatus.read.value)
LETTER_KINDS = (PageKind.letter.value, PageKind.blank.value)


# --- mailroom ------------------------------------------------------------------------


def review_queue(db: Session, limit: int = 200) -> list[MailItem]:
    """Letters waiting for a person, oldest first."""
    return list(
        db.scalars(
            select(MailItem)
            .where(MailItem.status.in_(QUEUE_STATUSES))
            .options(joinedload(MailItem.volunteer), joinedload(MailItem.inmate),
                     joinedload(MailItem.source))
            .order_by(MailItem.created_at, MailItem.id)
            .limit(limit)
        ).unique()
    )


def status_counts(db: Session) -> dict[str, int]:
    rows = db.execute(select(MailItem.status, func.count()).group_by(MailItem.status))
    return {status: count for status, count in rows}


def page_counts(db: Session, item_ids: list[str], kinds: tuple[str, ...] | None = None) -> dict:
    if not item_ids:
        return {}
    query = select(Page.item_id, func.count()).where(Page.item_id.in_(item_ids))
    if kinds:
        query = query.where(Page.kind.in_(kinds))
    return dict(db.execute(query.group_by(Page.item_id)).all())


def next_in_queue(db: Session, after: MailItem | None) -> str | None:
    """The letter after `after` in queue order; wraps to the oldest one."""
    base = select(MailItem.id).where(MailItem.status.in_(QUEUE_STATUSES))
    if after is not None:
        later = db.scalar(
            base.where(
                tuple_(MailItem.created_at, MailItem.id) > tuple_(after.created_at, after.id)
            )
            .order_by(MailItem.created_at, MailItem.id)
            .limit(1)
        )
        if later:
            return later
        base = base.where(MailItem.id != after.id)
    return db.scalar(base.order_by(MailItem.created_at, MailItem.id).limit(1))


def staff_item(db: Session, item_id: str) -> MailItem | None:
    return db.scalar(
        select(MailItem)
        .where(MailItem.id == item_id)
        .options(
            selectinload(MailItem.pages).selectinload(Page.redactions),
            joinedload(MailItem.inmate).joinedload(Inmate.facility),
            joinedload(MailItem.volunteer),
            joinedload(MailItem.source),
        )
    )


@dataclass
class RosterHit:
    inmate: Inmate
    facility: str
    volunteers: list[str] = field(default_factory=list)  # display names of active matches


def search_roster(db: Session, q: str, limit: int = 20) -> list[RosterHit]:
    """Inmates whose name or number contains `q` (number compared without punctuation)."""
    q = q.strip()
    if not q:
        return []
    folded = "".join(ch for ch in q.upper() if ch.isalnum())
    conditions = [Inmate.name.ilike(f"%{q}%"), Inmate.inmate_number.ilike(f"%{q}%")]
    if folded:
        conditions.append(Inmate.number_key.ilike(f"%{folded}%"))
    inmates = list(
        db.scalars(
            select(Inmate)
            .where(or_(*conditions))
            .options(joinedload(Inmate.facility))
            .order_by(Inmate.name)
            .limit(limit)
        )
    )
    names: dict[int, list[str]] = {}
    if inmates:
        rows = db.execute(
            select(Match.inmate_id, Volunteer.display_name)
            .join(Volunteer, Volunteer.id == Match.volunteer_id)
            .where(Match.inmate_id.in_([i.id for i in inmates]), Match.active.is_(True))
        )
        for inmate_id, name in rows:
            names.setdefault(inmate_id, []).append(name)
    return [
        RosterHit(i, i.facility.name if i.facility else "", names.get(i.id, [])) for i in inmates
    ]


def queue_size(db: Session) -> int:
    return (
        db.scalar(
            select(func.count()).select_from(MailItem).where(MailItem.status.in_(QUEUE_STATUSES))
        )
        or 0
    )


def count_submitted_replies(db: Session) -> int:
    return (
        db.scalar(
            select(func.count()).select_from(Reply).where(Reply.status == ReplyStatus.submitted)
        )
        or 0
    )


def submitted_replies(db: Session, limit: int = 200) -> list[Reply]:
    return list(
        db.scalars(
            select(Reply)
            .where(Reply.status == ReplyStatus.submitted)
            .options(joinedload(Reply.volunteer), joinedload(Reply.inmate))
            .order_by(Reply.submitted_at, Reply.created_at)
            .limit(limit)
        ).unique()
    )


# --- pen pal -------------------------------------------------------------------------


def inbox(
    db: Session, volunteer_id: int, status: str, limit: int, offset: int = 0
) -> list[MailItem]:
    return list(
        db.scalars(
            select(MailItem)
            .where(MailItem.volunteer_id == volunteer_id, MailItem.status == status)
            .options(joinedload(MailItem.inmate))
            .order_by(MailItem.released_at.desc(), MailItem.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def count_items(db: Session, volunteer_id: int, status: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(MailItem)
            .where(MailItem.volunteer_id == volunteer_id, MailItem.status == status)
        )
        or 0
    )


def replies_by_item(db: Session, volunteer_id: int, item_ids: list[str]) -> dict[str, Reply]:
    if not item_ids:
        return {}
    rows = db.scalars(
        select(Reply)
        .where(Reply.volunteer_id == volunteer_id, Reply.item_id.in_(item_ids))
        .order_by(Reply.created_at)
    )
    return {r.item_id: r for r in rows if r.item_id}


def my_matches(db: Session, volunteer_id: int) -> list[tuple[Match, datetime | None, int]]:
    """This volunteer's pen pals, each with the date of the last letter and how many are new."""
    matches = list(
        db.scalars(
            select(Match)
            .where(Match.volunteer_id == volunteer_id)
            .options(joinedload(Match.inmate))
            .order_by(Match.active.desc(), Match.created_at)
        )
    )
    stats = {
        inmate_id: (last, new)
        for inmate_id, last, new in db.execute(
            select(
                MailItem.inmate_id,
                func.max(MailItem.released_at),
                func.sum(case((MailItem.status == ItemStatus.released.value, 1), else_=0)),
            )
            .where(MailItem.volunteer_id == volunteer_id, MailItem.status.in_(PENPAL_STATUSES))
            .group_by(MailItem.inmate_id)
        )
    }
    return [(m, *stats.get(m.inmate_id, (None, 0))) for m in matches]


@dataclass
class ThreadEntry:
    at: datetime
    kind: str  # "letter" | "reply"
    item: MailItem | None = None
    reply: Reply | None = None
    text: str = ""


def correspondence(db: Session, volunteer_id: int, inmate_id: int) -> list[ThreadEntry]:
    """Letters from this inmate and replies to them, in the order they happened."""
    items = list(
        db.scalars(
            select(MailItem)
            .where(
                MailItem.volunteer_id == volunteer_id,
                MailItem.inmate_id == inmate_id,
                MailItem.status.in_(PENPAL_STATUSES),
            )
            .options(selectinload(MailItem.pages))
        )
    )
    replies = list(
        db.scalars(
            select(Reply).where(Reply.volunteer_id == volunteer_id, Reply.inmate_id == inmate_id)
        )
    )
    entries = [
        ThreadEntry(
            at=item.released_at or item.created_at,
            kind="letter",
            item=item,
            text="\n\n".join(
                p.redacted_text for p in item.pages if p.kind in LETTER_KINDS and p.redacted_text
            ),
        )
        for item in items
    ]
    entries += [
        ThreadEntry(
            at=r.submitted_at or r.updated_at or r.created_at, kind="reply", reply=r, text=r.text
        )
        for r in replies
    ]
    return sorted(entries, key=lambda e: e.at)


def has_match(db: Session, volunteer_id: int, inmate_id: int) -> bool:
    return (
        db.scalar(
            select(func.count())
            .select_from(Match)
            .where(Match.volunteer_id == volunteer_id, Match.inmate_id == inmate_id)
        )
        > 0
    )


# --- admin ---------------------------------------------------------------------------


@dataclass
class Dashboard:
    by_status: dict[str, int]
    letters_today: int
    pages_today: int
    waiting_longest: list[MailItem]
    replies_waiting: int
    failed_sources: list[SourceFile]


def dashboard(db: Session) -> Dashboard:
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    letters_today = (
        db.scalar(select(func.count()).select_from(MailItem).where(MailItem.created_at >= midnight))
        or 0
    )
    pages_today = (
        db.scalar(
            select(func.count())
            .select_from(Page)
            .join(MailItem, MailItem.id == Page.item_id)
            .where(MailItem.created_at >= midnight)
        )
        or 0
    )
    failed_sources = list(
        db.scalars(
            select(SourceFile)
            .where(
                SourceFile.status == "quarantined",
                SourceFile.created_at >= midnight - timedelta(days=7),
            )
            .order_by(SourceFile.created_at.desc())
            .limit(10)
        )
    )
    return Dashboard(
        by_status=status_counts(db),
        letters_today=letters_today,
        pages_today=pages_today,
        waiting_longest=review_queue(db, limit=10),
        replies_waiting=count_submitted_replies(db),
        failed_sources=failed_sources,
    )


def roster(db: Session, q: str, limit: int, offset: int) -> tuple[list[Inmate], dict, int]:
    query = select(Inmate)
    if q.strip():
        like = f"%{q.strip()}%"
        query = query.outerjoin(Facility, Facility.id == Inmate.facility_id).where(
            or_(
                Inmate.name.ilike(like),
                Inmate.inmate_number.ilike(like),
                Facility.name.ilike(like),
            )
        )
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    inmates = list(
        db.scalars(
            query.options(joinedload(Inmate.facility))
            .order_by(Inmate.name, Inmate.id)  # ix_inmates_name: no sort of the whole roster
            .limit(limit)
            .offset(offset)
        )
    )
    matches: dict[int, list[Match]] = {}
    if inmates:
        for match in db.scalars(
            select(Match)
            .where(Match.inmate_id.in_([i.id for i in inmates]))
            .options(joinedload(Match.volunteer))
        ):
            matches.setdefault(match.inmate_id, []).append(match)
    return inmates, matches, total


@dataclass
class Waiting:
    inmate: Inmate
    since: datetime  # Inmate.waiting_since: since when they have had no pen pal
    letters_waiting: int  # their letters in the mailroom queue


def _waiting_query():  # a Select of Inmate
    # Read off ix_inmates_waiting (active, waiting_since, id) in order: no sort, no grouping
    # of matches; postal/roster.py keeps waiting_since as matches start and end.
    return select(Inmate).where(Inmate.active.is_(True), Inmate.waiting_since.is_not(None))


def _letters_waiting(db: Session, inmate_ids: list[int]) -> dict[int, int]:
    # One grouped count for the rows shown, not a count per writer in the sort.
    if not inmate_ids:
        return {}
    rows = db.execute(
        select(MailItem.inmate_id, func.count())
        .where(MailItem.inmate_id.in_(inmate_ids), MailItem.status.in_(QUEUE_STATUSES))
        .group_by(MailItem.inmate_id)
    )
    return dict(rows.all())


def waiting_list(db: Session, limit: int, offset: int) -> tuple[list[Waiting], int]:
    """Writers in the program without an active pen pal, the longest waiting first."""
    query = _waiting_query()
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    inmates = list(
        db.scalars(
            query.options(joinedload(Inmate.facility))
            .order_by(Inmate.waiting_since, Inmate.id)
            .limit(limit)
            .offset(offset)
        )
    )
    letters = _letters_waiting(db, [inmate.id for inmate in inmates])
    return [Waiting(i, i.waiting_since, letters.get(i.id, 0)) for i in inmates], total


def waiting_entry(db: Session, inmate: Inmate) -> Waiting | None:
    """One writer's place on the waiting list (None: not waiting)."""
    if not inmate.active or inmate.waiting_since is None:
        return None
    letters = _letters_waiting(db, [inmate.id]).get(inmate.id, 0)
    return Waiting(inmate, inmate.waiting_since, letters)


def _active_match_counts(db: Session, volunteer_ids: list[int]) -> dict[int, int]:
    if not volunteer_ids:
        return {}
    rows = db.execute(
        select(Match.volunteer_id, func.count())
        .where(Match.volunteer_id.in_(volunteer_ids), Match.active.is_(True))
        .group_by(Match.volunteer_id)
    )
    return dict(rows.all())


def volunteers_with_load(
    db: Session, *, q: str = "", active_only: bool = False, limit: int = 1000, offset: int = 0
) -> tuple[list[tuple[Volunteer, int]], int]:
    """Volunteers with their number of active matches. For choosing one (`active_only`), the
    least busy come first; otherwise by name, those who left last."""
    query = select(Volunteer)
    if active_only:
        query = query.where(Volunteer.active.is_(True))
    if q.strip():
        like = f"%{q.strip()}%"
        query = query.where(or_(Volunteer.display_name.ilike(like), Volunteer.email.ilike(like)))
    if active_only:  # every active volunteer, sorted by load (a few hundred at most)
        volunteers = list(db.scalars(query))
        loads = _active_match_counts(db, [v.id for v in volunteers])
        ranked = sorted(volunteers, key=lambda v: (loads.get(v.id, 0), v.display_name, v.id))
        return [(v, loads.get(v.id, 0)) for v in ranked[offset : offset + limit]], len(ranked)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    volunteers = list(
        db.scalars(
            query.order_by(Volunteer.active.desc(), Volunteer.display_name, Volunteer.id)
            .limit(limit)
            .offset(offset)
        )
    )
    loads = _active_match_counts(db, [v.id for v in volunteers])
    return [(v, loads.get(v.id, 0)) for v in volunteers], total


def active_facilities(db: Session) -> list[Facility]:
    return list(
        db.scalars(select(Facility).where(Facility.active.is_(True)).order_by(Facility.name))
    )


def facilities(
    db: Session, *, limit: int = 1000, offset: int = 0
) -> tuple[list[tuple[Facility, int]], int]:
    """Facilities with how many people in the program are there."""
    total = db.scalar(select(func.count()).select_from(Facility)) or 0
    rows = list(
        db.scalars(
            select(Facility)
            .order_by(Facility.active.desc(), Facility.name)
            .limit(limit)
            .offset(offset)
        )
    )
    people = dict(
        db.execute(
            select(Inmate.facility_id, func.count())
            .where(Inmate.facility_id.in_([f.id for f in rows]), Inmate.active.is_(True))
            .group_by(Inmate.facility_id)
        ).all()
    ) if rows else {}
    return [(f, people.get(f.id, 0)) for f in rows], total


def matches_of(db: Session, *, inmate_id: int | None = None, volunteer_id: int | None = None):
    query = select(Match).options(joinedload(Match.inmate), joinedload(Match.volunteer))
    if inmate_id is not None:
        query = query.where(Match.inmate_id == inmate_id)
    if volunteer_id is not None:
        query = query.where(Match.volunteer_id == volunteer_id)
    return list(db.scalars(query.order_by(Match.active.desc(), Match.created_at.desc())))


def users(db: Session) -> list[User]:
    return list(
        db.scalars(select(User).options(joinedload(User.volunteer)).order_by(User.role, User.email))
    )


def audit_log(
    db: Session,
    *,
    q: str = "",
    action: str = "",
    item_id: str = "",
    day_from: date | None = None,
    day_to: date | None = None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEvent], bool]:
    query = select(AuditEvent)
    conditions: list[Any] = []
    if day_from is not None:
        conditions.append(AuditEvent.at >= datetime.combine(day_from, time.min))
    if day_to is not None:  # the whole of the last day
        conditions.append(AuditEvent.at < datetime.combine(day_to + timedelta(days=1), time.min))
    if action:
        conditions.append(AuditEvent.action == action)
    if item_id:
        conditions.append(or_(AuditEvent.item_id == item_id, AuditEvent.reply_id == item_id))
    if q.strip():
        like = f"%{q.strip()}%"
        conditions.append(
            or_(
                AuditEvent.actor.ilike(like),
                AuditEvent.action.ilike(like),
                AuditEvent.item_id.ilike(like),
                AuditEvent.reply_id.ilike(like),
            )
        )
    if conditions:
        query = query.where(and_(*conditions))
    # Newest first by time (the `at` index serves both a date filter and the order).
    rows = list(
        db.scalars(
            query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit + 1).offset(offset)
        )
    )
    return rows[:limit], len(rows) > limit


def audit_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def page_problems(db: Session, item_id: str) -> dict[int, dict]:
    """The last failed redaction check of each page: {"problems": [...], "regions": [...]}
    (kinds, counts and boxes, never values). A page checked since without problems drops out."""
    events = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.item_id == item_id,
               AuditEvent.action == "redaction_verification_failed")
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    problems: dict[int, dict] = {}
    for event in events:
        if "page" in event.detail:
            problems[int(event.detail["page"])] = {
                "problems": list(event.detail.get("problems", [])),
                "regions": [r for r in event.detail.get("regions", []) if len(r) == 5],
            }
    verified = set(db.scalars(select(Page.index).where(Page.item_id == item_id,
                                                       Page.verified.is_(True))))
    return {n: found for n, found in problems.items() if n not in verified}


def quarantined_files(db: Session, limit: int = 200) -> list[tuple[SourceFile, str]]:
    """Files that could not be processed, newest first, with the reason a volunteer reads."""
    items = db.scalars(
        select(MailItem).where(MailItem.status == ItemStatus.quarantined)
        .order_by(MailItem.created_at.desc(), MailItem.id).limit(limit)
    ).all()
    sources = {s.id: s for s in db.scalars(
        select(SourceFile).where(SourceFile.id.in_({i.source_id for i in items})))}
    seen, out = set(), []
    for item in items:
        source = sources.get(item.source_id)
        if source is None or source.id in seen:
            continue
        seen.add(source.id)
        out.append((source, source.error or item.quarantine_reason or "could not be processed"))
    return out
