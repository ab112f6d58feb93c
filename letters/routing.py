"""Who sent a letter and who gets it: read the envelope, match the roster, record why.

The OCR step read the envelope with Tesseract. Its reading stands when the roster confirms it
(`tesseract_vouches`: a strict match, read with confidence, nothing left in doubt); otherwise
PP-OCR reads the envelope again here, and its reading is the one matched and kept as the page's
words (`OcrPage.engine` says which engine read it). Typed envelopes, which Tesseract reads well,
so cost one Tesseract reading; handwritten ones get the better reader
(bench/results/routing.md). The matching rules are the same for both readings: a reading
either engine makes is never trusted further than `postal.matching` trusts it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import get_settings
from letters.pages import load_words, require_read
from letters.states import OUTCOME_REASON, ReviewReason, Stage
from ocr.engines import TESSERACT, EngineRule
from ocr.envelope import SenderGuess, read_envelope_again, read_sender
from ocr.images import decode_image
from ocr.types import OcrPage
from postal.matching import MatchDecision, MatchOutcome, match_sender
from postal.roster import no_pen_pal_for_letter
from storage.blobs import get_blob_store
from storage.db import audit, session_scope
from storage.models import Inmate, MailItem, Page, PageKind

NO_SENDER = SenderGuess(name="", inmate_number="", facility="", address_lines=[], confidence=0.0)

# How sure Tesseract's reading of the sender block must be (`SenderGuess.confidence`: the OCR
# confidence of the name and number lines, scaled down for a missing part) for its roster match
# to stand without PP-OCR. Measured (bench/results/routing.md, 40 roster envelopes, typed and
# handwriting-style): Tesseract routed all 40 right; 37 read at 0.88 or more, 3 at 0.48-0.83,
# and those 3 are read again: a safety margin, since a misread the roster still routes is
# what never must happen.
TESSERACT_MIN_SENDER_CONFIDENCE = 0.85
# A match with these flags leaves something in doubt that a better reading may settle: only a
# reply code routed it (the envelope itself said nothing checkable), or the envelope's facility
# is not the roster's (a transfer, or a misread line).
DOUBT_FLAGS = frozenset({"code_only", "likely_transfer"})


def tesseract_vouches(guess: SenderGuess, decision: MatchDecision) -> bool:
    """True when Tesseract's reading of an envelope is kept without asking PP-OCR: the roster
    routes it (strictly: `match_sender`'s rules and minimum confidence), its sender block was
    read with confidence, and the match raises no doubt."""
    return (
        decision.outcome == MatchOutcome.routed
        and guess.confidence >= TESSERACT_MIN_SENDER_CONFIDENCE
        and not DOUBT_FLAGS.intersection(decision.flags)
    )


def decide_sender(
    session: Session, envelope: OcrPage | None, *, letter_text: str, min_confidence: float
) -> tuple[SenderGuess, MatchDecision]:
    """What the envelope says and whose letter that makes it (no envelope: nobody's, unless a
    reply code in the letter says)."""
    guess = read_sender(envelope) if envelope is not None else NO_SENDER
    decision = match_sender(session, guess, min_confidence=min_confidence, letter_text=letter_text)
    return guess, decision


def route_item(item_id: str) -> str:
    """Read the envelope, match the roster, record the decision. Returns the outcome."""
    settings = get_settings()
    rule = EngineRule.from_settings(settings)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage in {Stage.routed, Stage.redacted, Stage.done}:
            return item.match_reason
        require_read(item)
        envelope = _envelope(item)
        words = load_words(envelope) if envelope else None
        guess, decision = decide_sender(session, words, letter_text=_letter_text(item),
                                        min_confidence=settings.match_min_confidence)
        read_again = (
            envelope is not None and bool(envelope.clean_key)
            and rule.second_engine and rule.envelopes
            and words.engine == TESSERACT and not tesseract_vouches(guess, decision)
            and _anyone_to_route_to(session)
        )  # fmt: skip
        if not read_again:
            return _record(session, item, envelope, words, guess, decision)
        clean_key = envelope.clean_key
    # PP-OCR reads (seconds of CPU) with no transaction open.
    again = read_envelope_again(decode_image(get_blob_store().get(clean_key)), words,
                                languages=settings.ocr_languages,
                                timeout=settings.ocr_page_timeout_seconds)
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage in {Stage.routed, Stage.redacted, Stage.done}:
            return item.match_reason
        envelope = _envelope(item)
        if again.engine != words.engine:  # PP-OCR failed: Tesseract's reading stands
            _keep_reading(envelope, again)
        guess, decision = decide_sender(session, again, letter_text=_letter_text(item),
                                        min_confidence=settings.match_min_confidence)
        return _record(session, item, envelope, again, guess, decision)


def _anyone_to_route_to(session: Session) -> bool:
    """Whether the roster has anyone a better reading could match a letter to (active or not:
    a match to someone who has left says so too). With nobody on it (a new program before its
    roster is imported) PP-OCR's seconds cannot change the outcome: the letter waits for a
    person either way, with Tesseract's reading shown."""
    return session.scalar(select(Inmate.id).limit(1)) is not None


def _envelope(item: MailItem) -> Page | None:
    return next((p for p in item.pages if p.kind == PageKind.envelope), None)


def _letter_text(item: MailItem) -> str:
    return "\n".join(p.text for p in item.pages if p.kind == PageKind.letter)


def _keep_reading(page: Page, reading: OcrPage) -> None:
    """The envelope's new reading becomes its words (same blob key: the page points at one)."""
    key = page.words_key or f"items/{page.item_id}/page-{page.index}-words.json"
    get_blob_store().put(key, reading.to_json().encode(), "application/json")
    page.words_key = key
    page.text = reading.text
    page.confidence = round(reading.confidence, 2)
    page.needs_transcription = reading.needs_transcription
    page.language = reading.language


def _record(
    session: Session,
    item: MailItem,
    envelope: Page | None,
    words: OcrPage | None,
    guess: SenderGuess,
    decision: MatchDecision,
) -> str:
    item.sender_name = guess.name
    item.sender_number = guess.inmate_number
    item.sender_facility = guess.facility
    item.sender_confidence = round(decision.confidence, 3)
    item.match_reason = decision.reason
    item.flags = list(decision.flags)
    languages = [p.language for p in item.pages if p.kind == PageKind.letter and p.language]
    item.language = max(set(languages), key=languages.count) if languages else ""
    item.inmate_id = decision.inmate_id
    routed = decision.outcome == MatchOutcome.routed
    item.volunteer_id = decision.volunteer_id if routed else None
    reasons: list[str] = []
    if not routed:
        reasons.append(OUTCOME_REASON[decision.outcome])
        if envelope is None:
            reasons.append(ReviewReason.no_envelope)
    if decision.outcome == MatchOutcome.no_match and decision.inmate_id is not None:
        no_pen_pal_for_letter(session, decision.inmate_id)  # onto the waiting list
    item.review_reasons = reasons
    item.stage = Stage.routed
    audit(session, "routed" if routed else "not_routed",
          item_id=item.id, outcome=decision.outcome, confidence=round(decision.confidence, 3),
          flags=list(decision.flags), envelope_read_by=words.engine if words else "")
    return decision.outcome
