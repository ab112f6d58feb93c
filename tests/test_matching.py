"""Matching an envelope's sender to the roster: route only on agreeing evidence, hold the rest."""

from __future__ import annotations

import pytest

from ocr.envelope import SenderGuess
from postal.codes import ensure_code, format_code
from postal.inmate_numbers import fold
from postal.matching import match_sender, name_similarity
from storage.db import session_scope
from storage.models import Facility, Inmate, Match, Volunteer

FACILITIES = {
    "FCI Pine Hollow": ("P.O. Box 5300", "Florence", "CO", "81226", "federal"),
    "FCI Cedar Bend": ("P.O. Box 950", "Oxford", "WI", "53952", "federal"),
    "Dry Creek State Prison": ("P.O. Box 4490", "Lancaster", "CA", "93539", "ca"),
    "Bluebonnet Unit": ("2664 FM 2054", "Tennessee Colony", "TX", "75886", "tx"),
}
# number, name, facility, volunteer email (None: no pen pal)
PEOPLE = [
    ("12345-678", "John Smith", "FCI Pine Hollow", "ann@example.org"),
    ("12345-679", "Jon Smith", "FCI Pine Hollow", "bob@example.org"),  # a near twin
    ("40321-177", "Marcus Reed", "FCI Cedar Bend", "cat@example.org"),
    ("AB1234", "Luis Ortiz", "Dry Creek State Prison", "dee@example.org"),
    ("C12345", "Maria Lopez", "Dry Creek State Prison", "eve@example.org"),
    ("2231874", "Kevin Hall", "Bluebonnet Unit", None),
    ("2231875", "Carl Young", "Bluebonnet Unit", "fay@example.org"),
]


@pytest.fixture
def roster(lb_home) -> dict[str, dict[str, int]]:
    """The roster above in a fresh database: {number: {"inmate": id, "volunteer": id, "match": id}}.
    """
    ids: dict[str, dict[str, int]] = {}
    with session_scope() as session:
        facilities = {}
        for name, (line, city, state, zip_, system) in FACILITIES.items():
            facilities[name] = Facility(
                name=name, address_line=line, city=city, state=state, zip=zip_, system=system
            )
        session.add_all(facilities.values())
        for number, name, facility, email in PEOPLE:
            inmate = Inmate(
                inmate_number=number,
                number_key=fold(number),
                name=name,
                facility=facilities[facility],
            )
            session.add(inmate)
            session.flush()
            ids[number] = {"inmate": inmate.id}
            if email:
                volunteer = Volunteer(email=email, display_name=email.split("@")[0].title())
                match = Match(inmate=inmate, volunteer=volunteer)
                session.add_all([volunteer, match])
                session.flush()
                ids[number] |= {"volunteer": volunteer.id, "match": match.id}
    return ids


def guess(
    name: str = "",
    number: str = "",
    facility: str = "",
    address: list[str] | None = None,
    code: str | None = None,
) -> SenderGuess:
    return SenderGuess(
        name=name,
        inmate_number=number,
        facility=facility,
        address_lines=address or [],
        confidence=0.95,
        code=code,
    )


def decide(g: SenderGuess, **kwargs):
    with session_scope() as session:
        return match_sender(session, g, **kwargs)


def test_exact_number_and_name_route_to_the_pen_pal(roster) -> None:
    """GIVEN an envelope with a roster number, the matching name and facility
    WHEN the sender is matched
    THEN the letter is routed to that inmate's volunteer, with a reason naming the evidence."""
    d = decide(
        guess("Marcus Reed", "40321-177", "FCI Cedar Bend", ["P.O. Box 950", "Oxford, WI 53952"])
    )
    assert d.outcome == "routed"
    assert (d.inmate_id, d.volunteer_id) == (
        roster["40321-177"]["inmate"],
        roster["40321-177"]["volunteer"],
    )
    assert d.match_id == roster["40321-177"]["match"]
    assert d.confidence >= 0.9
    assert "exact inmate number 40321-177" in d.reason and "name agrees" in d.reason
    assert d.flags == []


def test_ocr_look_alikes_in_the_number_still_match(roster) -> None:
    """GIVEN the number read with O for 0, I for 1 and S for 5 ("C1234S", "4O32I-177")
    WHEN the sender is matched
    THEN it matches the roster number exactly (folded)."""
    d = decide(guess("Maria Lopez", "C1234S", "Dry Creek State Prison"))
    assert d.outcome == "routed" and d.inmate_id == roster["C12345"]["inmate"]
    d = decide(guess("MARCUS REED", "4O32I-177", "FCI Cedar Bend"))
    assert d.outcome == "routed" and d.inmate_id == roster["40321-177"]["inmate"]


def test_near_twins_route_only_where_number_and_name_agree(roster) -> None:
    """GIVEN two people at one facility, numbers one digit apart and names one letter apart
    WHEN each writes with his own number and name
    THEN each letter goes to his own pen pal."""
    a = decide(guess("John Smith", "12345-678", "FCI Pine Hollow"))
    b = decide(guess("Jon Smith", "12345-679", "FCI Pine Hollow"))
    assert (a.outcome, a.volunteer_id) == ("routed", roster["12345-678"]["volunteer"])
    assert (b.outcome, b.volunteer_id) == ("routed", roster["12345-679"]["volunteer"])


def test_number_of_one_twin_with_the_name_of_the_other_is_held(roster) -> None:
    """GIVEN an envelope whose number is Jon Smith's but whose name is John Smith's
    (one of them was misread, and we can't tell which)
    WHEN the sender is matched
    THEN the letter is held as ambiguous, not routed to either."""
    d = decide(guess("John Smith", "12345-679", "FCI Pine Hollow"))
    assert d.outcome == "ambiguous"
    assert d.volunteer_id is None
    assert {c["inmate_number"] for c in d.candidates[:2]} == {"12345-678", "12345-679"}


def test_near_number_routes_when_name_and_facility_agree(roster) -> None:
    """GIVEN a number one character off (no roster number matches exactly), with the name and
    facility of one roster person
    WHEN the sender is matched
    THEN it is routed to that person; with another facility it is held."""
    d = decide(guess("Marcus Reed", "40321-171", "FCI Cedar Bend"))
    assert d.outcome == "routed" and d.inmate_id == roster["40321-177"]["inmate"]
    assert "one character from 40321-177" in d.reason
    held = decide(guess("Marcus Reed", "40321-171", "Bluebonnet Unit"))
    assert held.outcome == "ambiguous" and held.volunteer_id is None


def test_name_and_facility_route_only_an_exact_unique_name(roster) -> None:
    """GIVEN envelopes without a readable number
    WHEN the sender is matched on name and facility
    THEN an exact name at its facility routes; a name close to two people is held; a name
    close to nobody is unknown."""
    d = decide(guess("Luis Ortiz", "", "Dry Creek State Prison"))
    assert d.outcome == "routed" and d.inmate_id == roster["AB1234"]["inmate"]
    twins = decide(guess("John Smith", "", "FCI Pine Hollow"))
    assert twins.outcome == "ambiguous"
    nobody = decide(guess("Terrell Washington", "", "FCI Pine Hollow"))
    assert nobody.outcome == "unknown"


def test_sender_not_on_the_roster_is_unknown(roster) -> None:
    """GIVEN a stranger with a number far from every roster number, even with a name one letter
    from a roster name at the same facility
    WHEN the sender is matched
    THEN the outcome is unknown."""
    d = decide(guess("Peter Brooks", "77777-321", "FCI Cedar Bend"))
    assert (d.outcome, d.inmate_id, d.volunteer_id) == ("unknown", None, None)
    d = decide(guess("Marcus Reid", "55512-904", "FCI Cedar Bend"))
    assert d.outcome == "unknown"
    assert decide(guess()).outcome == "unknown"


def test_known_sender_without_an_active_pen_pal_is_no_match(roster) -> None:
    """GIVEN a roster inmate with no match, and one whose volunteer left
    WHEN they write
    THEN the outcome is no_match with the inmate known and no volunteer."""
    d = decide(guess("Kevin Hall", "2231874", "Bluebonnet Unit"))
    assert (d.outcome, d.inmate_id, d.volunteer_id) == (
        "no_match",
        roster["2231874"]["inmate"],
        None,
    )
    with session_scope() as session:
        session.get(Volunteer, roster["2231875"]["volunteer"]).active = False
    d = decide(guess("Carl Young", "2231875", "Bluebonnet Unit"))
    assert (d.outcome, d.volunteer_id) == ("no_match", None)


def test_writing_from_another_facility_routes_and_flags_a_transfer(roster) -> None:
    """GIVEN an envelope with a roster number and name, from another facility than the roster's
    WHEN the sender is matched
    THEN the letter is routed and flagged likely_transfer; from the roster's facility it is not."""
    d = decide(
        guess(
            "Luis Ortiz",
            "AB1234",
            "Bluebonnet Unit",
            ["2664 FM 2054", "Tennessee Colony, TX 75886"],
        )
    )
    assert d.outcome == "routed" and d.volunteer_id == roster["AB1234"]["volunteer"]
    assert "likely_transfer" in d.flags
    same = decide(guess("Luis Ortiz", "AB1234", "Dry Creek State Prison"))
    assert same.outcome == "routed" and same.flags == []


def test_reply_code_routes_when_the_envelope_agrees(roster) -> None:
    """GIVEN a reply code on the envelope or in the letter, for the match of the sender
    WHEN the sender is matched
    THEN the letter is routed through that match, also when the envelope shows no number."""
    with session_scope() as session:
        code = ensure_code(session, session.get(Match, roster["40321-177"]["match"]))
    d = decide(guess("Marcus Reed", "40321-177", "FCI Cedar Bend", code=code))
    assert d.outcome == "routed" and d.match_id == roster["40321-177"]["match"]
    assert "reply code" in d.reason
    in_letter = decide(
        guess("Marcus Reed", "", ""), letter_text=f"Thanks! Ref: {format_code(code)}"
    )
    assert (
        in_letter.outcome == "routed" and in_letter.volunteer_id == roster["40321-177"]["volunteer"]
    )


def test_reply_code_that_disagrees_with_the_envelope_is_held(roster) -> None:
    """GIVEN a reply code belonging to Marcus Reed's correspondence on Luis Ortiz's envelope
    WHEN the sender is matched
    THEN the letter is held as ambiguous (neither the code nor the envelope is trusted)."""
    with session_scope() as session:
        code = ensure_code(session, session.get(Match, roster["40321-177"]["match"]))
    d = decide(guess("Luis Ortiz", "AB1234", "Dry Creek State Prison", code=code))
    assert d.outcome == "ambiguous" and d.volunteer_id is None
    assert "reply code" in d.reason


def test_reply_code_chooses_between_two_pen_pals(roster) -> None:
    """GIVEN an inmate with two active pen pals
    WHEN he writes without a code, and with the code of one correspondence
    THEN without a code the letter is held; with it, it goes to that correspondence."""
    with session_scope() as session:
        inmate = session.get(Inmate, roster["AB1234"]["inmate"])
        second = Match(
            inmate=inmate, volunteer=Volunteer(email="gus@example.org", display_name="Gus")
        )
        session.add(second)
        session.flush()
        code, second_id, second_volunteer = (
            ensure_code(session, second),
            second.id,
            second.volunteer_id,
        )
    held = decide(guess("Luis Ortiz", "AB1234", "Dry Creek State Prison"))
    assert held.outcome == "ambiguous" and "2 active pen pals" in held.reason
    d = decide(guess("Luis Ortiz", "AB1234", "Dry Creek State Prison"), letter_text=f"code {code}")
    assert (d.outcome, d.match_id, d.volunteer_id) == ("routed", second_id, second_volunteer)


def test_low_confidence_is_held_not_routed(roster) -> None:
    """GIVEN an envelope that would route with confidence below the caller's minimum
    WHEN the sender is matched
    THEN it is held as ambiguous with the reason saying so."""
    d = decide(guess("Marcus Reed", "40321-171", "FCI Cedar Bend"), min_confidence=0.99)
    assert d.outcome == "ambiguous" and "below" in d.reason


def test_name_similarity_handles_order_and_initials() -> None:
    """GIVEN the same name written "LAST, FIRST", with and without a middle initial
    WHEN compared
    THEN they are alike; different middle initials are not ignored."""
    assert name_similarity("SMITH, JOHN", "John Smith") == 1.0
    assert name_similarity("John A. Smith", "John Smith") == 1.0
    assert name_similarity("John A. Smith", "John B. Smith") < 0.95
    assert name_similarity("John Smith", "Jon Smith") < 1.0
