"""Who sent this letter, and whose pen pal gets it: the envelope's sender matched to the roster.

The one rule above all others: a letter is never delivered on a guess. A decision routes a
letter only when independent pieces of evidence (inmate number, name, facility, reply code)
point at one person and nothing points at someone else; everything else is held for a person
("ambiguous") or left unrouted ("unknown", "no_match"). Every decision says why.

Order of evidence, as the issue asks:
1. a reply code (on the envelope or in the letter) that the envelope agrees with;
2. the exact inmate number (folded: O/0, I/1, S/5, B/8 ... are one character), confirmed
   by the name;
3. a number one edit away that agrees with the name AND the facility;
4. name + facility alone (only when the envelope shows no number at all).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ocr.envelope import SenderGuess
from postal.codes import find_codes, format_code
from postal.inmate_numbers import fold, system_of
from storage.models import Facility, Inmate, Match

log = logging.getLogger(__name__)

# Similarities are 0..1 (rapidfuzz / 100).
NAME_AGREES = 0.80  # with an exact number: the name confirms it
NAME_CONFLICTS = 0.60  # below this the name is someone else's (or unreadable)
NEAR_NAME_AGREES = 0.85  # with a number one edit away
NEAR_NAME_MARGIN = 0.03  # ... and no one else's name that close
# Near twins (numbers one character apart, names one letter apart): when the number can't
# tell them apart for sure, the name must be read (nearly) exactly.
TWIN_NAME_GAP = 0.08  # a rival's name this close to the best's makes them twins
TWIN_NAME_AGREES = 0.95
LEVEL_NAME_MARGIN = 0.05  # near tier: a rival's number as near as best's
NAME_ONLY_AGREES = 0.90  # name + facility, no number on the envelope
NAME_ONLY_MARGIN = 0.10  # one letter apart (0.95) is too close without a number
FACILITY_AGREES = 0.75
FACILITY_DIFFERS = 0.50
PLAUSIBLE_NAME = 0.92  # enough to call an unmatched sender "ambiguous" rather than "unknown"
TOP_CANDIDATES = 5


class MatchOutcome(StrEnum):
    routed = "routed"
    ambiguous = "ambiguous"  # a person must choose among candidates
    unknown = "unknown"  # nobody on the roster fits
    no_match = "no_match"  # the writer is known but has no pen pal


@dataclass
class MatchDecision:
    outcome: MatchOutcome
    inmate_id: int | None
    volunteer_id: int | None
    confidence: float  # 0..1
    reason: str  # short, for the audit log and the admin view (may hold the number)
    flags: list[str] = field(default_factory=list)  # e.g. ["likely_transfer"]
    candidates: list[dict] = field(default_factory=list)  # top candidates, for the mailroom UI
    match_id: int | None = None  # the correspondence routed through

    @property
    def routed(self) -> bool:
        return self.outcome == MatchOutcome.routed


@dataclass
class _Candidate:
    inmate_id: int
    inmate_number: str
    name: str
    facility_id: int | None
    facility_name: str
    status: str
    number_distance: int | None  # folded edit distance to the envelope's number; None: no number
    name_score: float | None  # None: no name on the envelope
    facility_score: float | None  # None: no facility on the envelope

    @property
    def score(self) -> float:
        """For ranking candidates only; decisions use the rules in `match_sender`."""
        total = 0.0
        if self.number_distance is not None:
            total += {0: 0.5, 1: 0.3, 2: 0.1}.get(self.number_distance, 0.0)
        if self.name_score is not None:
            total += 0.35 * self.name_score
        if self.facility_score is not None:
            total += 0.15 * self.facility_score
        return round(total, 4)

    def as_dict(self) -> dict:
        return {
            "inmate_id": self.inmate_id,
            "inmate_number": self.inmate_number,
            "name": self.name,
            "facility": self.facility_name,
            "score": self.score,
            "number_distance": self.number_distance,
            "name_score": None if self.name_score is None else round(self.name_score, 3),
            "facility_score": None
            if self.facility_score is None
            else round(self.facility_score, 3),
        }


# --- similarities -------------------------------------------------------------------------

_HONORIFICS = {"MR", "MRS", "MS", "MISS", "DR", "INMATE", "FROM"}


@lru_cache(maxsize=65536)  # roster names come back on every call
def _name_tokens(name: str) -> tuple[str, ...]:
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    text = text.replace("'", "").replace("\u2019", "")
    if "," in text:  # "SMITH, JOHN A." -> "JOHN A. SMITH"
        last, first = text.split(",", 1)
        text = f"{first} {last}"
    return tuple(t for t in re.findall(r"[A-Z]+", text) if t not in _HONORIFICS)


def name_similarity(a: str, b: str) -> float:
    """0..1, order-insensitive. A middle initial present on one side only is not held against
    it; two different middle initials are."""
    ta, tb = _name_tokens(a), _name_tokens(b)
    if not ta or not tb:
        return 0.0
    full = fuzz.token_sort_ratio(" ".join(ta), " ".join(tb)) / 100
    ia = {t for t in ta if len(t) == 1}
    ib = {t for t in tb if len(t) == 1}
    if ia and ib and ia != ib:
        return full
    na = [t for t in ta if len(t) > 1]
    nb = [t for t in tb if len(t) > 1]
    if not na or not nb:
        return full
    return max(full, fuzz.token_sort_ratio(" ".join(na), " ".join(nb)) / 100)


_FACILITY_GENERIC = {
    "CORRECTIONAL", "CORRECTION", "CORRECTIONS", "FACILITY", "CENTER", "CENTRE", "UNIT",
    "STATE", "PRISON", "INSTITUTION", "FEDERAL", "UNITED", "STATES", "PENITENTIARY", "FCI",
    "USP", "SCI", "FMC", "FDC", "MDC", "FPC", "CI", "CF", "CC", "SP", "COMPLEX", "CAMP", "JAIL",
    "COUNTY", "DETENTION", "THE", "OF", "AT",
}  # fmt: skip


def _facility_words(text: str) -> tuple[str, str]:
    tokens = re.findall(r"[A-Z]+", text.upper())
    distinct = [t for t in tokens if t not in _FACILITY_GENERIC]
    return " ".join(tokens), " ".join(distinct)


def facility_similarity(guess: SenderGuess, facility: Facility) -> float | None:
    """0..1 how well the envelope's facility line and address fit a roster facility; None when
    the envelope shows neither."""
    lines = [guess.facility, *guess.address_lines]
    if not any(line.strip() for line in lines):
        return None
    best = 0.0
    if guess.facility.strip():
        full_a, distinct_a = _facility_words(guess.facility)
        full_b, distinct_b = _facility_words(facility.name)
        if distinct_a and distinct_b:
            # The distinctive words decide ("Pine Hollow"); "Correctional Center" is shared
            # by half the roster.
            raw = fuzz.token_sort_ratio(distinct_a, distinct_b) / 100
            partial = fuzz.partial_ratio(distinct_b, distinct_a) / 100
            if partial >= 0.9:  # the name inside a longer (or partly misread) line
                raw = max(raw, 0.95 * partial)
        else:
            raw = fuzz.token_sort_ratio(full_a, full_b) / 100
        # Two unrelated names of this kind still score ~0.5 ("Laurel Run" / "Blue Mountain"):
        # stretch 0.5..1 onto 0..1 so only real likeness counts.
        best = max(0.0, (raw - 0.5) / 0.5)
    address = " ".join(guess.address_lines).upper()
    zips = set(re.findall(r"\b\d{5}\b", address))
    if facility.zip and facility.zip[:5] in zips:
        best = max(best, 0.9)
    elif facility.city and len(facility.city) > 3:
        if fuzz.partial_ratio(facility.city.upper(), address) >= 90:
            best = max(best, 0.8)
    return best


# --- the decision --------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _load_candidates(session: Session, guess: SenderGuess) -> tuple[list[_Candidate], dict]:
    facilities = {f.id: f for f in session.scalars(select(Facility))}
    fac_scores = {fid: facility_similarity(guess, f) for fid, f in facilities.items()}
    number_key = fold(guess.inmate_number) if guess.inmate_number.strip() else ""
    name = guess.name.strip()
    rows = session.execute(
        select(
            Inmate.id,
            Inmate.inmate_number,
            Inmate.number_key,
            Inmate.name,
            Inmate.facility_id,
            Inmate.status,
        )
    ).all()
    candidates = []
    for inmate_id, number, key, inmate_name, facility_id, status in rows:
        distance = None
        if number_key:
            distance = Levenshtein.distance(number_key, key or _fold(number), score_cutoff=3)
        candidates.append(
            _Candidate(
                inmate_id=inmate_id,
                inmate_number=number,
                name=inmate_name,
                facility_id=facility_id,
                facility_name=facilities[facility_id].name if facility_id in facilities else "",
                status=status,
                number_distance=distance,
                name_score=name_similarity(name, inmate_name) if name else None,
                facility_score=fac_scores.get(facility_id) if facility_id else None,
            )
        )
    if not any(line.strip() for line in [guess.facility, *guess.address_lines]):
        for c in candidates:
            c.facility_score = None
    candidates.sort(key=lambda c: c.score, reverse=True)
    return candidates, fac_scores


@lru_cache(maxsize=65536)
def _fold(number: str) -> str:
    return fold(number)


def _active_matches(session: Session, inmate_id: int) -> list[Match]:
    matches = session.scalars(
        select(Match)
        .where(Match.inmate_id == inmate_id, Match.active.is_(True))
        .options(selectinload(Match.volunteer))
    ).all()
    return [m for m in matches if m.volunteer is not None and m.volunteer.active]


def _top(candidates: list[_Candidate]) -> list[dict]:
    return [c.as_dict() for c in candidates[:TOP_CANDIDATES] if c.score > 0.2]


def _flags(guess: SenderGuess, chosen: _Candidate, fac_scores: dict) -> list[str]:
    flags: list[str] = []
    if chosen.facility_score is not None and chosen.facility_score < FACILITY_DIFFERS:
        # The envelope names a facility, and it isn't the roster's: most often a transfer.
        other = max(
            (s for fid, s in fac_scores.items() if fid != chosen.facility_id and s is not None),
            default=0.0,
        )
        readable = guess.confidence >= 0.5 or other >= 0.8
        if readable:
            flags.append("likely_transfer")
    if chosen.status and chosen.status != "active":
        flags.append(f"inmate_{chosen.status}")
    return flags


def _deliver(
    session: Session,
    chosen: _Candidate,
    *,
    confidence: float,
    reason: str,
    flags: list[str],
    candidates: list[dict],
    preferred: Match | None = None,
) -> MatchDecision:
    """The sender is known: find the pen pal (or say there is none)."""
    if preferred is not None and preferred.active and preferred.volunteer.active:
        active = [preferred]
    else:
        active = _active_matches(session, chosen.inmate_id)
        if preferred is not None and active:
            flags = [*flags, "code_match_inactive"]
    if not active:
        return MatchDecision(
            MatchOutcome.no_match, chosen.inmate_id, None, confidence,
            f"{reason}; no active pen pal", flags, candidates,
        )  # fmt: skip
    if len(active) > 1:
        return MatchDecision(
            MatchOutcome.ambiguous, chosen.inmate_id, None, min(confidence, 0.5),
            f"{reason}; {len(active)} active pen pals and no reply code to choose", flags,
            candidates,
        )  # fmt: skip
    match = active[0]
    return MatchDecision(
        MatchOutcome.routed, chosen.inmate_id, match.volunteer_id, round(confidence, 3), reason, flags,
        candidates, match_id=match.id,
    )  # fmt: skip


def _hold(
    reason: str, confidence: float, candidates: list[dict], *, inmate_id=None
) -> MatchDecision:
    return MatchDecision(
        MatchOutcome.ambiguous, inmate_id, None, round(min(confidence, 0.89), 3), reason, [], candidates
    )


def match_sender(
    session: Session,
    guess: SenderGuess,
    *,
    min_confidence: float = 0.9,
    letter_text: str = "",
) -> MatchDecision:
    """Decide whose letter this is. Never routes on a guess: see the module docstring."""
    candidates, fac_scores = _load_candidates(session, guess)
    top = _top(candidates)
    by_id = {c.inmate_id: c for c in candidates}

    decision = _by_code(session, guess, letter_text, by_id, fac_scores, top)
    if decision is None:
        decision = _by_envelope(session, guess, candidates, fac_scores, top)
    if decision.outcome == MatchOutcome.routed and decision.confidence < min_confidence:
        decision = MatchDecision(
            MatchOutcome.ambiguous, decision.inmate_id, None, decision.confidence,
            f"{decision.reason}; confidence {_fmt(decision.confidence)} below "
            f"{_fmt(min_confidence)}", decision.flags, decision.candidates,
        )  # fmt: skip
    log.info(
        "sender decision %s (%.2f): %s", decision.outcome, decision.confidence, decision.reason
    )
    return decision


def _by_code(
    session: Session,
    guess: SenderGuess,
    letter_text: str,
    by_id: dict[int, _Candidate],
    fac_scores: dict,
    top: list[dict],
) -> MatchDecision | None:
    codes = ([guess.code] if guess.code else []) + find_codes(letter_text)
    codes = list(dict.fromkeys(codes))
    if not codes:
        return None
    matches = {
        m.code: m
        for m in session.scalars(
            select(Match).where(Match.code.in_(codes)).options(selectinload(Match.volunteer))
        )
    }
    if not matches:
        return None  # valid-looking codes that are not ours: the envelope decides
    inmates = {m.inmate_id for m in matches.values()}
    if len(inmates) > 1:
        return _hold("reply codes of two different correspondences", 0.3, top)
    code, match = next(iter(matches.items()))
    chosen = by_id.get(match.inmate_id)
    if chosen is None:
        return None
    shown = format_code(code)

    # The envelope must not point at someone else.
    number_present = chosen.number_distance is not None
    number_conflicts = number_present and chosen.number_distance >= 2
    name_conflicts = chosen.name_score is not None and chosen.name_score < NAME_CONFLICTS
    number_agrees = number_present and chosen.number_distance <= 1
    name_agrees = chosen.name_score is not None and chosen.name_score >= NAME_AGREES
    if number_conflicts or name_conflicts:
        what = "number" if number_conflicts else "name"
        return _hold(
            f"reply code {shown} belongs to another sender than the envelope's {what}",
            0.4,
            top,
            inmate_id=None,
        )
    if number_agrees or name_agrees:
        parts = [f"reply code {shown}"]
        if number_agrees:
            parts.append("number agrees")
        if name_agrees:
            parts.append(f"name agrees {_fmt(chosen.name_score)}")
        confidence = 0.99
        flags = _flags(guess, chosen, fac_scores)
    else:
        parts = [f"reply code {shown}", "envelope shows no name or number to cross-check"]
        confidence = 0.95 if guess.code else 0.92
        flags = ["code_only", *_flags(guess, chosen, fac_scores)]
    return _deliver(
        session,
        chosen,
        confidence=confidence,
        reason="; ".join(parts),
        flags=flags,
        candidates=top,
        preferred=match,
    )


def _by_envelope(
    session: Session,
    guess: SenderGuess,
    candidates: list[_Candidate],
    fac_scores: dict,
    top: list[dict],
) -> MatchDecision:
    number = guess.inmate_number.strip()
    has_name = bool(guess.name.strip())
    # A number in a known system's format is authoritative: a sender whose number is
    # nowhere near the roster is someone else, however alike the names.
    authoritative = bool(number) and system_of(number) != "generic"
    if number and not authoritative:
        authoritative = bool(guess.system) and guess.system != "generic"

    if number:
        exact = [c for c in candidates if c.number_distance == 0]
        near = [c for c in candidates if c.number_distance == 1]
        if exact:
            return _exact_number(session, guess, exact, near, fac_scores, top)
        if near:
            decision = _near_number(session, guess, near, candidates, fac_scores, top)
            if decision is not None:
                return decision
        if authoritative:
            return _number_not_on_roster(guess, candidates, top)
    if not has_name:
        return MatchDecision(MatchOutcome.unknown, None, None, 0.0, "no readable name or number", [], top)
    return _name_and_facility(session, guess, candidates, fac_scores, top)


def _exact_number(
    session: Session,
    guess: SenderGuess,
    exact: list[_Candidate],
    near: list[_Candidate],
    fac_scores: dict,
    top: list[dict],
) -> MatchDecision:
    neighbours = exact + near
    if guess.name.strip():
        best = max(exact, key=lambda c: c.name_score or 0.0)
        rivals = [c for c in neighbours if c is not best]
        rival_name = max((c.name_score or 0.0 for c in rivals), default=0.0)
        name = best.name_score or 0.0
        what = f"exact inmate number {best.inmate_number}"
        if name < NAME_CONFLICTS:
            return _hold(f"{what} but the name disagrees ({_fmt(name)})", 0.5, top)
        if rival_name >= name:
            # Another number one character away fits the name as well or better: the number
            # may be misread. Facility can still tell them apart.
            fac = best.facility_score or 0.0
            rival_fac = max(
                (c.facility_score or 0.0 for c in rivals if (c.name_score or 0) >= name),
                default=0.0,
            )
            if not (
                rival_name - name < 0.005
                and fac >= FACILITY_AGREES
                and rival_fac < FACILITY_DIFFERS
            ):
                return _hold(
                    f"{what}, but a near number's name fits as well "
                    f"({_fmt(rival_name)} vs {_fmt(name)})",
                    0.6,
                    top,
                )
        twin_like = [c for c in rivals if (c.name_score or 0.0) >= name - TWIN_NAME_GAP]
        if twin_like and name < TWIN_NAME_AGREES:
            # A near twin (number one character off, name nearly the same): only a cleanly
            # read name tells them apart; a garbled one could be either.
            return _hold(
                f"{what}, but a near twin's number and name are close too "
                f"({_fmt(name)} vs {_fmt(rival_name)})",
                0.6,
                top,
            )
        if name >= NAME_AGREES:
            confidence = 0.9 + 0.1 * min(1.0, (name - NAME_AGREES) / (1 - NAME_AGREES))
            reason = f"{what} ({system_of(best.inmate_number)}); name agrees {_fmt(name)}"
        else:
            fac = best.facility_score or 0.0
            if fac < FACILITY_AGREES or rivals:
                return _hold(f"{what}; name only partly agrees ({_fmt(name)})", 0.7, top)
            confidence = 0.9
            reason = (
                f"{what} ({system_of(best.inmate_number)}); name partly agrees "
                f"{_fmt(name)}; facility agrees {_fmt(fac)}"
            )
        if best.facility_score is not None and best.facility_score >= FACILITY_AGREES:
            reason += "; facility agrees"
        return _deliver(
            session,
            best,
            confidence=confidence,
            reason=reason,
            flags=_flags(guess, best, fac_scores),
            candidates=top,
        )

    # No name on the envelope: the number alone, if nothing near it could be meant instead.
    if len(neighbours) > 1:
        return _hold("exact number but no name, and another number is one character away", 0.6, top)
    best = exact[0]
    fac = best.facility_score
    what = f"exact inmate number {best.inmate_number} ({system_of(best.inmate_number)}); no name"
    if fac is None or fac < FACILITY_AGREES:
        return _hold(f"{what}, facility does not confirm", 0.7, top)
    return _deliver(
        session,
        best,
        confidence=0.9,
        reason=f"{what}; facility agrees {_fmt(fac)}",
        flags=_flags(guess, best, fac_scores),
        candidates=top,
    )


def _near_number(
    session: Session,
    guess: SenderGuess,
    near: list[_Candidate],
    candidates: list[_Candidate],
    fac_scores: dict,
    top: list[dict],
) -> MatchDecision | None:
    """A number one character from a roster number: only with the name AND facility agreeing,
    and no other person that close in number whose name fits nearly as well."""
    if not guess.name.strip():
        return _hold(
            "inmate number one character from a roster number, no name to confirm", 0.5, top
        )
    best = max(near, key=lambda c: c.name_score or 0.0)
    name = best.name_score or 0.0
    fac = best.facility_score or 0.0
    rivals = [
        c
        for c in candidates
        if c is not best and c.number_distance is not None and c.number_distance <= 2
    ]
    rival_name = max((c.name_score or 0.0 for c in rivals), default=0.0)
    # Rivals whose number is as close as best's: the number can't choose, the name must.
    level = [c for c in rivals if c.number_distance <= 1]
    level_name = max((c.name_score or 0.0 for c in level), default=0.0)
    if name < NAME_CONFLICTS:
        return None  # the near number is a coincidence; treat as a number not on the roster
    what = f"inmate number one character from {best.inmate_number}"
    if name < NEAR_NAME_AGREES or fac < FACILITY_AGREES:
        return _hold(
            f"{what}; name {_fmt(name)} / facility {_fmt(fac)} do not both agree", 0.6, top
        )
    if rival_name > name - NEAR_NAME_MARGIN:
        return _hold(f"{what}; another near number's name fits nearly as well", 0.6, top)
    if level and (name < TWIN_NAME_AGREES or level_name > name - LEVEL_NAME_MARGIN):
        return _hold(
            f"{what}; another number just as near, names too alike to choose "
            f"({_fmt(name)} vs {_fmt(level_name)})",
            0.6,
            top,
        )
    confidence = 0.9 + 0.05 * min(1.0, (name - NEAR_NAME_AGREES) / (1 - NEAR_NAME_AGREES))
    return _deliver(
        session,
        best,
        confidence=confidence,
        reason=f"{what}; name agrees {_fmt(name)}; facility agrees {_fmt(fac)}",
        flags=_flags(guess, best, fac_scores),
        candidates=top,
    )


def _number_not_on_roster(
    guess: SenderGuess, candidates: list[_Candidate], top: list[dict]
) -> MatchDecision:
    """The envelope's number is nobody's. Only an exact name at the same facility makes it
    worth a person's look (a number misread twice); otherwise the sender is unknown."""
    twins = [
        c for c in candidates
        if (c.name_score or 0.0) >= 0.999 and (c.facility_score or 0.0) >= FACILITY_AGREES
    ]  # fmt: skip
    if twins:
        return _hold(
            "inmate number not on the roster, but name and facility match someone", 0.5, top
        )
    return MatchDecision(MatchOutcome.unknown, None, None, 0.0, "inmate number not on the roster", [], top)


def _name_and_facility(
    session: Session,
    guess: SenderGuess,
    candidates: list[_Candidate],
    fac_scores: dict,
    top: list[dict],
) -> MatchDecision:
    ranked = sorted(candidates, key=lambda c: c.name_score or 0.0, reverse=True)
    best = ranked[0] if ranked else None
    if best is None or (best.name_score or 0.0) < PLAUSIBLE_NAME:
        return MatchDecision(
            MatchOutcome.unknown, None, None, 0.0, "no roster name close to the envelope's", [], top
        )
    name = best.name_score or 0.0
    fac = best.facility_score
    second = ranked[1].name_score or 0.0 if len(ranked) > 1 else 0.0
    what = f"no inmate number; name {_fmt(name)}"
    if fac is None or fac < FACILITY_AGREES:
        return _hold(f"{what}, facility does not confirm", 0.5, top)
    if second > name - NAME_ONLY_MARGIN:
        return _hold(f"{what}; another roster name is as close ({_fmt(second)})", 0.5, top)
    if name < NAME_ONLY_AGREES:
        return _hold(f"{what}: not close enough to route on name alone", 0.6, top)
    # Name + facility alone routes only on a (normalised) exact name.
    confidence = 0.75 + 0.15 * (name - NAME_ONLY_AGREES) / (1 - NAME_ONLY_AGREES)
    return _deliver(
        session,
        best,
        confidence=confidence,
        reason=f"{what} and facility {_fmt(fac)} agree",
        flags=_flags(guess, best, fac_scores),
        candidates=top,
    )
