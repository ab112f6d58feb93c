"""Synthetic scanned mail for tests, the demo and benchmarks: letters, rosters, runs, bad files.

Everything is invented and deterministic for a seed. See `make_letter` for the page layout and
`PlantedDetail` for the ground truth of personal details.
"""

from letterbridge.samples.badinputs import make_bad_inputs, make_odd_files
from letterbridge.samples.degrade import map_box
from letterbridge.samples.demo import generate_sample_set, make_demo_set
from letterbridge.samples.fonts import DEBIAN_FONT_PACKAGES
from letterbridge.samples.letter import (
    DEFAULT_PROGRAM_LINES,
    DETAIL_KINDS,
    PlantedDetail,
    SampleLetter,
    make_envelope,
    make_letter,
)
from letterbridge.samples.roster import (
    FACILITIES,
    SYSTEMS,
    Person,
    Roster,
    make_roster,
    make_stranger,
)
from letterbridge.samples.run import make_scanner_run, truth_path, write_letter, write_run
from letterbridge.samples.text import WATCH_TERMS, aba_valid, luhn_valid

__all__ = [
    "DEBIAN_FONT_PACKAGES",
    "DEFAULT_PROGRAM_LINES",
    "DETAIL_KINDS",
    "FACILITIES",
    "SYSTEMS",
    "WATCH_TERMS",
    "Person",
    "PlantedDetail",
    "Roster",
    "SampleLetter",
    "aba_valid",
    "generate_sample_set",
    "luhn_valid",
    "make_bad_inputs",
    "make_odd_files",
    "make_demo_set",
    "make_envelope",
    "make_letter",
    "make_roster",
    "make_scanner_run",
    "make_stranger",
    "map_box",
    "truth_path",
    "write_letter",
    "write_run",
]
