"""The words of a letter's life: how far it has come and why it waits for a person.

Stored values are these enums' values (plain strings in the database). The statuses of rows
(`ItemStatus`, `SourceStatus`, `PageKind`) are the schema's own and live in `storage.models`;
how a sender matched (`MatchOutcome`) is the roster's, in `postal.matching`.
"""

from __future__ import annotations

from enum import StrEnum

from postal.matching import MatchOutcome


class Stage(StrEnum):
    """The last step a mail item finished; each step is skipped when already done."""

    new = ""
    routed = "routed"
    redacted = "redacted"
    done = "done"


class PageStage(StrEnum):
    new = ""
    ocr = "ocr"
    ocr_failed = "ocr_failed"


class ReviewReason(StrEnum):
    """Why a letter waits for a person (or why a file was quarantined), with a label in words."""

    label: str

    def __new__(cls, value: str, label: str) -> ReviewReason:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    # routing
    sender_ambiguous = "sender_ambiguous", "more than one writer could have sent it"
    sender_unknown = "sender_unknown", "the sender could not be read or is not in the roster"
    no_match = "no_match", "the writer has no pen pal yet"
    no_envelope = "no_envelope", "no envelope was scanned with it"
    # reading
    ocr_failed = "ocr_failed", "a page could not be read by OCR"
    low_ocr_confidence = "low_ocr_confidence", "OCR was unsure of a page"
    needs_transcription = "needs_transcription", "a page needs a person to transcribe it"
    # redaction
    redaction_unverified = "redaction_unverified", \
        "personal details could not be checked on a page"
    redaction_failed_verification = "redaction_failed_verification", \
        "a personal detail was still readable after redaction"
    # the whole item
    no_letter_pages = "no_letter_pages", "there is no letter page, only an envelope"
    processing_failed = "processing_failed", "processing stopped before it finished"
    held_by_mailroom = "held_by_mailroom", "held by the mailroom"
    no_content = "no_content", "every page is blank or a separator sheet"

    @classmethod
    def label_of(cls, code: str) -> str:
        """Words for any stored code; codes from elsewhere (quarantine) read as they are."""
        try:
            return cls(code).label
        except ValueError:
            return code.replace("_", " ")


ROUTING_REASONS = frozenset({ReviewReason.sender_ambiguous, ReviewReason.sender_unknown,
                             ReviewReason.no_match})
OUTCOME_REASON = {
    MatchOutcome.ambiguous: ReviewReason.sender_ambiguous,
    MatchOutcome.unknown: ReviewReason.sender_unknown,
    MatchOutcome.no_match: ReviewReason.no_match,
}
