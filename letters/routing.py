"""Who sent a letter and who gets it: read the envelope, match the roster, record why."""

from __future__ import annotations

from config.settings import get_settings
from letters.pages import load_words
from letters.states import OUTCOME_REASON, ReviewReason, Stage
from ocr.envelope import SenderGuess, read_sender
from postal.matching import MatchOutcome, match_sender
from postal.roster import no_pen_pal_for_letter
from storage.db import audit, session_scope
from storage.models import MailItem, PageKind

NO_SENDER = SenderGuess(name="", inmate_number="", facility="", address_lines=[], confidence=0.0)


def route_item(item_id: str) -> str:
    """Read the envelope, match the roster, record the decision. Returns the outcome."""
    settings = get_settings()
    with session_scope() as session:
        item = session.get(MailItem, item_id)
        if item.stage in {Stage.routed, Stage.redacted, Stage.done}:
            return item.match_reason
        envelope = next((p for p in item.pages if p.kind == PageKind.envelope), None)
        guess = read_sender(load_words(envelope)) if envelope else NO_SENDER
        letter_text = "\n".join(p.text for p in item.pages if p.kind == PageKind.letter)
        decision = match_sender(session, guess, min_confidence=settings.match_min_confidence,
                                letter_text=letter_text)
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
              item_id=item_id, outcome=decision.outcome, confidence=round(decision.confidence, 3),
              flags=list(decision.flags))
        return decision.outcome
