"""Misreads on purpose: roster senders' envelopes with simulated OCR errors, into match_sender.

No OCR here: this stresses the decision rules with far more (and nastier) misreads than a few
dozen real envelopes produce: look-alike swaps, random substitutions, dropped and doubled
characters in names and numbers, facility lines lost or replaced by another facility, names
or numbers missing. A letter may be held; it must never reach the wrong pen pal.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from dataclasses import dataclass

LOOK_ALIKES = {
    "0": "OD",
    "1": "Il",
    "5": "S",
    "8": "B",
    "2": "Z",
    "6": "G",
    "O": "0",
    "I": "1",
    "S": "5",
    "B": "8",
    "l": "1",
    "a": "o",
    "o": "a",
    "e": "c",
    "c": "e",
    "n": "m",
    "m": "n",
    "i": "l",
    "h": "b",
    "r": "n",
}


def _edit(text: str, rng: random.Random, edits: int) -> str:
    chars = list(text)
    for _ in range(edits):
        if not chars:
            break
        i = rng.randrange(len(chars))
        roll = rng.random()
        if roll < 0.4 and chars[i] in LOOK_ALIKES:
            chars[i] = rng.choice(LOOK_ALIKES[chars[i]])
        elif roll < 0.75:
            pool = string.digits if chars[i].isdigit() else string.ascii_letters
            chars[i] = rng.choice(pool)
        elif roll < 0.9:
            del chars[i]
        else:
            chars.insert(i, rng.choice(string.ascii_letters + string.digits))
    return "".join(chars)


@dataclass
class NoiseResult:
    guesses: int
    routed_right: int
    held: int
    unrouted: int
    misrouted: int
    misroute_examples: list[str]
    outcomes: Counter


def run_noise(roster, *, per_person: int, seed: int, people: int | None = None) -> NoiseResult:
    from sqlalchemy import select

    from letterbridge.samples.roster import facility_info
    from ocr.envelope import SenderGuess
    from postal.matching import match_sender
    from storage.db import session_scope
    from storage.models import Facility, Inmate, Match

    rng = random.Random(f"routing-noise:{seed}")
    with session_scope() as session:
        pen_pal = dict(
            session.execute(
                select(Inmate.inmate_number, Match.volunteer_id)
                .join(Match, Match.inmate_id == Inmate.id)
                .where(Match.active.is_(True))
            ).all()
        )
        facility_names = [f.name for f in session.scalars(select(Facility))]
    senders = [p for p in roster.inmates if p.inmate_number in pen_pal]
    twins = {n for pair in roster.near_duplicate_pairs for n in pair}
    # Twins first: they are where a misread can land on someone else.
    senders.sort(key=lambda p: p.inmate_number not in twins)
    if people:
        senders = senders[:people]

    outcomes: Counter = Counter()
    right = held = unrouted = misrouted = 0
    examples: list[str] = []
    with session_scope() as session:
        for person in senders:
            for _ in range(per_person):
                number = _edit(person.inmate_number, rng, rng.choice([0, 0, 1, 1, 2]))
                name = _edit(person.name, rng, rng.choice([0, 0, 1, 1, 2, 3]))
                fac = facility_info(person.facility)
                facility = person.facility
                address = [fac["address_line"], f"{fac['city']}, {fac['state']} {fac['zip']}"]
                roll = rng.random()
                if roll < 0.1:
                    facility, address = "", []
                elif roll < 0.2:  # transferred, or the wrong facility read
                    facility = rng.choice(facility_names)
                    other = facility_info(facility)
                    address = [
                        other["address_line"],
                        f"{other['city']}, {other['state']} {other['zip']}",
                    ]
                elif roll < 0.4:
                    facility = _edit(facility, rng, 2)
                if rng.random() < 0.1:
                    number = ""
                elif rng.random() < 0.05:
                    name = ""
                guess = SenderGuess(
                    name=name,
                    inmate_number=number,
                    facility=facility,
                    address_lines=address,
                    confidence=0.8,
                )
                decision = match_sender(session, guess)
                outcomes[decision.outcome] += 1
                if decision.outcome == "routed":
                    if decision.volunteer_id == pen_pal[person.inmate_number]:
                        right += 1
                    else:
                        misrouted += 1
                        if len(examples) < 10:
                            examples.append(
                                f"{person.inmate_number} {person.name!r} read as "
                                f"{number!r} {name!r} {facility!r}: {decision.reason}"
                            )
                elif decision.outcome == "ambiguous":
                    held += 1
                else:
                    unrouted += 1
    return NoiseResult(sum(outcomes.values()), right, held, unrouted, misrouted, examples, outcomes)
