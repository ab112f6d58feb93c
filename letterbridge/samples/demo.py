"""A ready-made set of sample mail: roster CSVs, letter PDFs and their truth, plus a manifest."""

from __future__ import annotations

import json
import random
from pathlib import Path

from letterbridge.samples.letter import make_letter
from letterbridge.samples.roster import make_roster, make_stranger
from letterbridge.samples.run import truth_path, write_letter


def generate_sample_set(
    out_dir: Path,
    *,
    n_letters: int = 5,
    seed: int = 7,
    handwriting_share: float = 0.3,
    n_inmates: int = 12,
    spanish: int = 1,
    strangers: int = 1,
    degrade: str = "scan",
) -> dict:
    """Roster CSVs in `out_dir/roster/`, letters in `out_dir/letters/`, truth in `out_dir/truth/`.

    Letter senders are distinct matched roster people, except the last `strangers` letters,
    whose senders are not on the roster. `spanish` letters (from the second on) are in Spanish.
    Truth files live apart from the letters so the letters folder can be ingested as it is.
    `out_dir/manifest.json` lists each letter with the volunteer it should reach (or null).
    """
    if not 0.0 <= handwriting_share <= 1.0:
        raise ValueError("handwriting_share must be between 0 and 1")
    out_dir = Path(out_dir)
    rng = random.Random(f"sampleset:{seed}")
    roster = make_roster(max(n_inmates, n_letters + 2), seed=seed)
    roster_paths = roster.write_csvs(out_dir / "roster")

    n_strangers = min(strangers, n_letters)
    matched = roster.matched()
    rng.shuffle(matched)
    n_known = n_letters - n_strangers
    senders = [matched[i % len(matched)] for i in range(n_known)]
    senders += [make_stranger(roster, seed=seed * 1000 + i) for i in range(n_strangers)]
    n_hand = round(n_letters * handwriting_share)
    hand_at = set(rng.sample(range(n_letters), n_hand))
    spanish_at = set(range(1, 1 + min(spanish, n_letters - 1))) if n_letters > 1 else set()

    letters, truths, entries = [], [], []
    letters_dir, truth_dir = out_dir / "letters", out_dir / "truth"
    for i, sender in enumerate(senders):
        style = "handwriting" if i in hand_at else "typed"
        language = "spa" if i in spanish_at else "eng"
        letter = make_letter(
            sender,
            seed=seed * 100 + i,
            style=style,
            language=language,
            degrade=degrade,
            others=roster.inmates,
        )
        path = write_letter(letter, letters_dir / f"letter-{i + 1:02d}.pdf", truth_dir=truth_dir)
        truth = truth_path(path, truth_dir)
        on_roster = roster.person(sender.inmate_number) is not None
        letters.append(path)
        truths.append(truth)
        entries.append(
            {
                "file": str(path.relative_to(out_dir)),
                "truth": str(truth.relative_to(out_dir)),
                "id": letter.id,
                "sender": sender.name,
                "inmate_number": sender.inmate_number,
                "facility": sender.facility,
                "style": style,
                "language": language,
                "pages": len(letter.pages),
                "on_roster": on_roster,
                "expected_volunteer": roster.volunteer_for(sender.inmate_number)
                if on_roster
                else None,
                "expected_status": "routed" if on_roster else "unrouted",
            }
        )
    manifest = out_dir / "manifest.json"
    manifest.write_text(
        json.dumps({"seed": seed, "letters": entries}, indent=1, ensure_ascii=False),
        encoding="utf-8",
    )
    return {
        "out_dir": out_dir,
        "roster": roster_paths,
        "letters": letters,
        "truth": truths,
        "manifest": manifest,
        "letters_dir": letters_dir,
        "roster_dir": out_dir / "roster",
    }


def make_demo_set(out_dir: Path, *, n_letters: int = 5, seed: int = 7) -> dict:
    """What `make demo` ingests: typed and handwritten letters, one Spanish, one stranger."""
    return generate_sample_set(out_dir, n_letters=n_letters, seed=seed, handwriting_share=0.4)
