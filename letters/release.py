"""The release decision: a letter goes to its pen pal only when every check passed.

`release_decision` is the rule itself, on plain facts, so each reason it can give has a test
of its own; `decide` applies it to a stored letter at the end of the flow. `release_blockers`
says what stops *anyone* (the flow, the mailroom, the CLI) from releasing a letter at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import get_settings
from letters.intake import NotReady
from letters.pages import load_words, require_read
from letters.redaction import build_pdfs
from letters.states import PageStage, ReviewReason, Stage
from ocr.redact import low_confidence_page, needs_human
from storage.db import audit, session_scope
from storage.models import ItemStatus, MailItem, Page, PageKind

# Reasons that say the redaction of a page could not be trusted: releasing such a letter
# needs a person's explicit word that they checked it.
REDACTION_REASONS = frozenset({ReviewReason.redaction_unverified,
                               ReviewReason.redaction_failed_verification,
                               ReviewReason.needs_transcription, ReviewReason.ocr_failed,
                               ReviewReason.low_ocr_confidence})


@dataclass(frozen=True)
class PageFacts:
    """What the decision needs to know of one page."""

    kind: str
    ocr_failed: bool = False
    low_confidence: bool = False
    needs_transcription: bool = False
    doubtful: bool = False  # the finders may have missed something (`ocr.redact.needs_human`)
    verified: bool = True  # the burned page was read again and nothing was left

    @classmethod
    def of(cls, page: Page, *, low_confidence: float) -> PageFacts:
        if page.kind != PageKind.letter:
            return cls(kind=page.kind)
        words = load_words(page)
        return cls(kind=page.kind, ocr_failed=page.stage == PageStage.ocr_failed,
                   low_confidence=low_confidence_page(words, low_confidence=low_confidence),
                   needs_transcription=words.needs_transcription,
                   doubtful=needs_human(words, low_confidence=low_confidence),
                   verified=bool(page.verified))


def release_decision(pages: list[PageFacts], *, routed: bool,
                     carried: list[str]) -> tuple[ItemStatus, list[str]]:
    """(status, reasons): released with no reasons, or waiting for a person and why.

    `carried` are the reasons earlier steps gave (routing). A letter nobody could be routed
    to is `unrouted` when the sender is unknown or has no pen pal, and waits for review when
    the sender is ambiguous: a person must choose.
    """
    reasons = list(dict.fromkeys(carried))

    def add(reason: ReviewReason) -> None:
        if reason not in reasons:
            reasons.append(reason)

    letters = [p for p in pages if p.kind == PageKind.letter]
    for page in letters:
        if page.ocr_failed:
            add(ReviewReason.ocr_failed)
        if page.doubtful:
            if page.low_confidence:
                add(ReviewReason.low_ocr_confidence)
            if page.needs_transcription:
                add(ReviewReason.needs_transcription)
            add(ReviewReason.redaction_unverified)
        if not page.verified:
            add(ReviewReason.redaction_failed_verification)
    if not letters:
        add(ReviewReason.no_letter_pages)
    if not routed:
        unrouted = {ReviewReason.sender_unknown, ReviewReason.no_match} & set(reasons)
        if unrouted and ReviewReason.sender_ambiguous not in reasons:
            return ItemStatus.unrouted, reasons
        return ItemStatus.needs_review, reasons
    return (ItemStatus.needs_review if reasons else ItemStatus.released), reasons


def release_blockers(item: MailItem) -> list[str]:
    """Why nobody may release this letter now (empty: a person may, after looking).

    Every letter page must have been read, redacted and burned by a flow that finished.
    """
    if item.status == ItemStatus.quarantined:
        return ["a quarantined file is not a letter"]
    if ReviewReason.processing_failed in item.review_reasons or item.stage != Stage.done:
        return ["processing did not finish; the worker's recovery processes it again (up to three runs)"]
    letters = [p for p in item.pages if p.kind == PageKind.letter]
    if not letters:
        return ["there is no letter page to send"]
    unread = [p.index for p in letters if not p.words_key]
    if unread:
        return [f"page {', '.join(map(str, unread))} was never read"]
    unburned = [p.index for p in letters if not p.redacted_key]
    if unburned:
        return [f"page {', '.join(map(str, unburned))} was never redacted"]
    return []


def needs_acknowledgement(item: MailItem) -> bool:
    """A letter held because its redaction could not be trusted needs a person's explicit word."""
    return bool(REDACTION_REASONS & set(item.review_reasons)) or any(
        not p.verified for p in item.pages if p.kind == PageKind.letter)


def decide(item_id: str) -> str:
    """Release only what passed every check; everything else waits for a person."""
    settings = get_settings()
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage == Stage.done:
            return item.status
        # Decided only on pages that were read and burned: a step that did not finish (the
        # blob store or the database went away) is run again, never decided on.
        require_read(item)
        unburned = [p.index for p in item.pages if p.kind == PageKind.letter and not p.redacted_key]
        if unburned:
            raise NotReady(f"letter {item_id}: page {', '.join(map(str, unburned))} not redacted yet")
        facts = [PageFacts.of(p, low_confidence=settings.ocr_low_confidence) for p in item.pages]
        # A run that failed before is finished now: its reason goes, the checks decide.
        carried = [r for r in item.review_reasons if r != ReviewReason.processing_failed]
        status, reasons = release_decision(facts, routed=item.volunteer_id is not None,
                                           carried=carried)
        if not item.archive_pdf_key:  # made by the redaction step; older letters had none
            build_pdfs(session, item)
        item.status = status
        if status == ItemStatus.released:
            item.released_at = item.updated_at
        item.review_reasons = reasons
        item.stage = Stage.done
        audit(session, "decided", actor="auto", item_id=item_id, status=item.status,
              reasons=reasons)
        return item.status
