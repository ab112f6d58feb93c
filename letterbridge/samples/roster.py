"""Invented facilities, inmates, volunteers and matches, as the roster CSVs of ARCHITECTURE.md."""

from __future__ import annotations

import csv
import random
import string
from dataclasses import dataclass, field
from pathlib import Path

from letterbridge.samples import text
from postal import csvsafe

SYSTEMS = ["federal", "ca", "il", "tx", "ny", "pa"]

# Invented institutions (names and box numbers are made up) in towns that fit their system.
FACILITIES: list[dict] = [
    {
        "name": "FCI Pine Hollow",
        "address_line": "P.O. Box 5300",
        "city": "Florence",
        "state": "CO",
        "zip": "81226",
        "system": "federal",
    },
    {
        "name": "USP Granite Falls",
        "address_line": "P.O. Box 1090",
        "city": "Coleman",
        "state": "FL",
        "zip": "33521",
        "system": "federal",
    },
    {
        "name": "FCI Cedar Bend",
        "address_line": "P.O. Box 950",
        "city": "Oxford",
        "state": "WI",
        "zip": "53952",
        "system": "federal",
    },
    {
        "name": "Dry Creek State Prison",
        "address_line": "P.O. Box 4490",
        "city": "Lancaster",
        "state": "CA",
        "zip": "93539",
        "system": "ca",
    },
    {
        "name": "Sierra Vista Correctional Facility",
        "address_line": "24900 Highway 202",
        "city": "Tehachapi",
        "state": "CA",
        "zip": "93561",
        "system": "ca",
    },
    {
        "name": "Prairie Ridge Correctional Center",
        "address_line": "P.O. Box 711",
        "city": "Menard",
        "state": "IL",
        "zip": "62259",
        "system": "il",
    },
    {
        "name": "Kaskaskia River Correctional Center",
        "address_line": "1101 Prison Road",
        "city": "Pontiac",
        "state": "IL",
        "zip": "61764",
        "system": "il",
    },
    {
        "name": "Bluebonnet Unit",
        "address_line": "2664 FM 2054",
        "city": "Tennessee Colony",
        "state": "TX",
        "zip": "75886",
        "system": "tx",
    },
    {
        "name": "Brazos Valley Unit",
        "address_line": "1300 FM 655",
        "city": "Rosharon",
        "state": "TX",
        "zip": "77583",
        "system": "tx",
    },
    {
        "name": "Mohawk Hills Correctional Facility",
        "address_line": "P.O. Box 8451",
        "city": "Romulus",
        "state": "NY",
        "zip": "14541",
        "system": "ny",
    },
    {
        "name": "Hudson Ridge Correctional Facility",
        "address_line": "P.O. Box 2001",
        "city": "Dannemora",
        "state": "NY",
        "zip": "12929",
        "system": "ny",
    },
    {
        "name": "SCI Laurel Run",
        "address_line": "1 Kelley Drive",
        "city": "Coal Township",
        "state": "PA",
        "zip": "17866",
        "system": "pa",
    },
    {
        "name": "SCI Blue Mountain",
        "address_line": "175 Progress Drive",
        "city": "Waynesburg",
        "state": "PA",
        "zip": "15370",
        "system": "pa",
    },
]
_FACILITY_BY_NAME = {f["name"]: f for f in FACILITIES}


@dataclass
class Person:
    """An inmate on (or, for a stranger, off) the roster."""

    inmate_number: str
    name: str
    facility: str
    system: str


@dataclass
class Roster:
    facilities: list[dict]
    inmates: list[Person]
    volunteers: list[dict]
    matches: list[tuple[str, str]]
    # (inmate_number, inmate_number) pairs made one character apart by near_duplicates=True
    near_duplicate_pairs: list[tuple[str, str]] = field(default_factory=list)

    def write_csvs(self, out_dir: Path) -> dict[str, Path]:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tables = {
            "facilities": (
                ["name", "address_line", "city", "state", "zip", "system"],
                [
                    [f[k] for k in ("name", "address_line", "city", "state", "zip", "system")]
                    for f in self.facilities
                ],
            ),
            "inmates": (
                ["inmate_number", "name", "facility"],
                [[p.inmate_number, p.name, p.facility] for p in self.inmates],
            ),
            "volunteers": (
                ["email", "display_name"],
                [[v["email"], v["display_name"]] for v in self.volunteers],
            ),
            "matches": (["inmate_number", "volunteer_email"], [list(m) for m in self.matches]),
        }
        paths = {}
        for name, (header, rows) in tables.items():
            path = out_dir / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                writer.writerows(csvsafe.row(r) for r in rows)
            paths[name] = path
        return paths

    # --- look-ups tests and benchmarks need ---
    def person(self, inmate_number: str) -> Person | None:
        return next((p for p in self.inmates if p.inmate_number == inmate_number), None)

    def volunteer_for(self, inmate_number: str) -> str | None:
        return next((v for n, v in self.matches if n == inmate_number), None)

    def matched(self) -> list[Person]:
        """Inmates that have a volunteer."""
        numbers = {n for n, _ in self.matches}
        return [p for p in self.inmates if p.inmate_number in numbers]

    def unmatched(self) -> list[Person]:
        numbers = {n for n, _ in self.matches}
        return [p for p in self.inmates if p.inmate_number not in numbers]


def facility_info(name: str) -> dict:
    """The catalogue entry for a facility name; a stable invented address for any other name."""
    if name in _FACILITY_BY_NAME:
        return dict(_FACILITY_BY_NAME[name])
    rng = random.Random(f"facility:{name}")
    city, state, zip3 = rng.choice(text.CITIES)
    return {
        "name": name,
        "address_line": f"P.O. Box {rng.randrange(100, 9999)}",
        "city": city,
        "state": state,
        "zip": f"{zip3}{rng.randrange(100):02d}",
        "system": "other",
    }


# --- inmate numbers ----------------------------------------------------------------------

_LETTERS = "ABCDEFGHJKLMNPRSTVWXY"  # no I, O, Q, U, Z, as most systems avoid them


def inmate_number(system: str, rng: random.Random) -> str:
    d = lambda n: "".join(str(rng.randrange(10)) for _ in range(n))  # noqa: E731
    if system == "federal":
        return f"{rng.randrange(10000, 99999)}-{d(3)}"
    if system == "ca":
        if rng.random() < 0.25:
            return f"{rng.choice('CDEHJKPTV')}{rng.randrange(10000, 99999)}"  # older CDCR format
        return f"{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}{rng.randrange(1000, 9999)}"
    if system == "il":
        return f"{rng.choice('ABKMNRSY')}{rng.randrange(10000, 99999)}"
    if system == "tx":
        return str(rng.randrange(1_000_000, 99_999_999)) if rng.random() < 0.7 else f"0{d(7)}"
    if system == "ny":
        return f"{rng.randrange(0, 25):02d}{rng.choice('ABCR')}{d(4)}"
    if system == "pa":
        return f"{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}{rng.randrange(1000, 9999)}"
    return f"{rng.randrange(100000, 999999)}"


def _near_number(number: str, rng: random.Random) -> str:
    """The same number with one character changed to another of its kind (digit for digit)."""
    positions = [i for i, ch in enumerate(number) if ch.isalnum()]
    i = rng.choice(positions)
    ch = number[i]
    pool = string.digits if ch.isdigit() else _LETTERS
    new = rng.choice([c for c in pool if c != ch])
    return number[:i] + new + number[i + 1 :]


_NAME_TWINS = {
    "Smith": "Smyth",
    "Jon": "John",
    "John": "Jon",
    "Steven": "Stephen",
    "Stephen": "Steven",
    "Brian": "Bryan",
    "Bryan": "Brian",
    "Eric": "Erik",
    "Jeffrey": "Geoffrey",
    "Allen": "Allan",
    "Gray": "Grey",
    "Reed": "Reid",
    "Cole": "Kole",
    "Lee": "Li",
    "Carl": "Karl",
    "Mark": "Marc",
    "Perry": "Parry",
    "Jose": "Josue",
    "Luis": "Louis",
    "Garcia": "Garsia",
    "Diaz": "Dias",
}


def _near_name(name: str, rng: random.Random) -> str:
    parts = name.split()
    order = list(range(len(parts)))
    rng.shuffle(order)
    for i in order:
        if parts[i] in _NAME_TWINS:
            parts[i] = _NAME_TWINS[parts[i]]
            return " ".join(parts)
    i = rng.choice([0, len(parts) - 1])
    word = parts[i]
    j = rng.randrange(1, len(word))
    vowels = "aeiouy"
    if word[j].lower() in vowels:
        repl = rng.choice([v for v in vowels if v != word[j].lower()])
    else:
        repl = rng.choice([c for c in "bcdfghklmnprstvwz" if c != word[j].lower()])
    parts[i] = word[:j] + repl + word[j + 1 :]
    return " ".join(parts)


def make_roster(n_inmates: int = 12, *, seed: int = 0, near_duplicates: bool = False) -> Roster:
    """A roster of `n_inmates` people over the facility catalogue, with volunteers and matches.

    The first six inmates cover the six systems in SYSTEMS order. Every inmate has a volunteer
    except the last `n_inmates // 12` (for `no_match`). With `near_duplicates=True` about a
    third of the people are near twins of an earlier one: a number one character apart in the
    same system, and a name one letter (or one known spelling) apart, or now and then the very
    same name. `Roster.near_duplicate_pairs` lists them.
    """
    rng = random.Random(f"roster:{seed}:{n_inmates}:{near_duplicates}")
    by_system: dict[str, list[dict]] = {
        s: [f for f in FACILITIES if f["system"] == s] for s in SYSTEMS
    }
    inmates: list[Person] = []
    numbers: set[str] = set()
    names: set[tuple[str, str]] = set()
    pairs: list[tuple[str, str]] = []

    def add(person: Person) -> bool:
        if person.inmate_number in numbers or (person.name, person.facility) in names:
            return False
        inmates.append(person)
        numbers.add(person.inmate_number)
        names.add((person.name, person.facility))
        return True

    while len(inmates) < n_inmates:
        i = len(inmates)
        if near_duplicates and i >= 6 and rng.random() < 0.4:
            base = rng.choice(inmates)
            same_facility = rng.random() < 0.5
            facility = (
                base.facility if same_facility else rng.choice(by_system[base.system])["name"]
            )
            # sometimes two people really share a name; then only the number tells them apart
            name = base.name if rng.random() < 0.15 else _near_name(base.name, rng)
            twin = Person(_near_number(base.inmate_number, rng), name, facility, base.system)
            if add(twin):
                pairs.append((base.inmate_number, twin.inmate_number))
            continue
        system = SYSTEMS[i] if i < len(SYSTEMS) else rng.choice(SYSTEMS)
        facility = rng.choice(by_system[system])["name"]
        add(Person(inmate_number(system, rng), text.person_name(rng), facility, system))

    used = {p.facility for p in inmates}
    facilities = [dict(f) for f in FACILITIES if f["name"] in used]

    n_vol = max(2, -(-n_inmates // 3))
    volunteers = []
    emails: set[str] = set()
    while len(volunteers) < n_vol:
        first, last = rng.choice(text.FIRST_NAMES), rng.choice(text.SURNAMES)
        email = f"{first.lower()}.{last.lower()}@example.org"
        if email in emails:
            email = f"{first.lower()}.{last.lower()}{len(volunteers)}@example.org"
        emails.add(email)
        display = f"{first} {last[0]}." if rng.random() < 0.5 else f"{first} {last}"
        volunteers.append({"email": email, "display_name": display})

    n_unmatched = n_inmates // 12
    matches = [
        (p.inmate_number, rng.choice(volunteers)["email"])
        for p in inmates[: n_inmates - n_unmatched]
    ]
    return Roster(facilities, inmates, volunteers, matches, pairs)


def _distance(a: str, b: str) -> int:
    if len(a) != len(b):
        return max(len(a), len(b))
    return sum(x != y for x, y in zip(a, b, strict=True))


def make_stranger(roster: Roster, *, seed: int = 0, system: str | None = None) -> Person:
    """Someone not on the roster: a new name, and a number at least three characters from all."""
    rng = random.Random(f"stranger:{seed}")
    names = {p.name for p in roster.inmates}
    while True:
        sys_ = system or rng.choice(SYSTEMS)
        number = inmate_number(sys_, rng)
        name = text.person_name(rng)
        if name in names or any(_distance(number, p.inmate_number) < 3 for p in roster.inmates):
            continue
        candidates = [f for f in roster.facilities if f["system"] == sys_] or [
            f for f in FACILITIES if f["system"] == sys_
        ]
        return Person(number, name, rng.choice(candidates)["name"], sys_)


def decorated_number(person: Person, rng: random.Random) -> str:
    """The number as a person writes it on mail: with or without the system's prefix and '#'."""
    n = person.inmate_number
    if person.system == "ny" and len(n) == 7 and rng.random() < 0.35:
        n = f"{n[:2]}-{n[2]}-{n[3:]}"  # DINs are often written with dashes
    prefixes = {
        "federal": ["#", "#", "", "Reg. No. "],
        "ca": ["#", "", "CDCR #"],
        "il": ["#", "", "IDOC #"],
        "tx": ["#", "TDCJ #", ""],
        "ny": ["DIN ", "#", "", "DIN# "],
        "pa": ["#", "", "Inmate No. "],
    }.get(person.system, ["#", ""])
    return rng.choice(prefixes) + n
