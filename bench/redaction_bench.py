"""Redaction on generated letters: recall per kind, words kept, auto-release and leaks.

    .venv/bin/python -m bench.redaction_bench --letters 6

Typed and handwriting-style letters go through the real pipeline (read_page, real Tesseract),
the finders, burning, re-OCR verification and the searchable PDF. Figures go to
bench/results/redaction.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from bench._redaction_eval import LetterResult, evaluate_letter
from letterbridge.samples import WATCH_TERMS, make_letter, make_roster
from ocr.pii import KINDS

RESULTS = Path(__file__).parent / "results" / "redaction.md"
NOTES = [
    "Notes:",
    "",
    "- Tesseract reads most generated handwriting pages at 85-96% confidence, so it seldom "
    "marks a page "
    "`needs_transcription`. What keeps unverifiable handwriting from release is "
    "`needs_human`'s line rule (a line of words read below 60% confidence) and "
    "`verify_page`'s fail-closed checks on the re-OCR of the burned page: any finding, runs of "
    "4+ digits that are not a date, year, time, money or the sender's number, words mixing "
    "letters with digits other than 0/1/5 (\"60M MM MM M7\" was a card), and '@'.",
    "- Those thresholds were set on seeds 1-2; seed 3's first run found two finder gaps "
    '("michelle 78@example.com" with the underscore read as a space, "315 555 015)") that '
    "were fixed before the figures above, so seed 3 is not a clean hold-out.",
    "- A typed letter's only known way through: OCR misreads a character of a value into "
    "something no finder or check recognises. `tests/test_leaks.py` runs three typed letters "
    "that plant every kind.",
]


def run(
    n_letters: int, seed: int, styles: list[str], *, degrade: str = "scan", log=print
) -> dict[str, list[LetterResult]]:
    roster = make_roster(12, seed=seed)
    out: dict[str, list[LetterResult]] = {}
    for style in styles:
        out[style] = []
        for i in range(n_letters):
            sender = roster.inmates[i % len(roster.inmates)]
            language = "spa" if i % 4 == 3 else "eng"
            letter = make_letter(
                sender,
                seed=seed * 1000 + i,
                style=style,
                language=language,
                degrade=degrade,
                others=roster.inmates,
            )
            result = evaluate_letter(letter, watch_terms=WATCH_TERMS)
            out[style].append(result)
            missed = [d.kind for p in result.pages for d in p.details if not d.found]
            leaks = [(d.kind, d.leaks) for p in result.pages for d in p.details if d.leaks]
            log(
                f"{style:11s} {i + 1:3d}/{n_letters} {letter.id} pages={len(result.pages)} "
                f"released={result.auto_released} missed={missed} leaks={leaks}"
            )
    return out


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:.1f}% ({num}/{den})" if den else "–"


def report(
    results: dict[str, list[LetterResult]], *, seconds: float, seed: int, degrade: str
) -> str:
    lines = [
        "## Redaction",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.redaction_bench "
        f"--letters {max(len(v) for v in results.values())} --seed {seed} --degrade {degrade}` "
        f"in {seconds:.0f} s. "
        "Generated letters (`letterbridge.samples.make_letter`, English and every fourth one "
        "Spanish) through `ocr.pipeline.read_page` (real Tesseract), "
        "`ocr.pii.find_pii` (sender's own number given, no roster numbers: patterns only; "
        "the sample watch list), `ocr.redact.burn`, re-OCR verification and "
        "`ocr.pdfbuild.searchable_pdf`.",
        "",
        "- *found*: every character OCR read of the planted value lies in a finding.",
        "- *leak*: the value (digits only for phone/SSN/card/bank) can be read in the re-OCR of "
        "the burned page, the redacted text or `pdftotext` of the delivered PDF.",
        "- A letter is auto-released when every page passed verification and none needs a "
        "person (`ocr.redact.needs_human`). In a released letter, a detail that was not found "
        "counts as a leak even when OCR cannot read it back: a person reads the pixels.",
        "- *words kept*: ordinary ground-truth words that OCR read and that are still in the "
        "redacted text (over-redaction; OCR's own misreads are not counted against it).",
        "",
    ]
    header = "| kind | " + " | ".join(results) + " |"
    lines += [header, "|---" * (len(results) + 1) + "|"]
    for kind in KINDS:
        row = [kind]
        for letters in results.values():
            ds = [d for r in letters for p in r.pages for d in p.details if d.kind == kind]
            row.append(_pct(sum(d.found for d in ds), len(ds)))
        lines.append("| " + " | ".join(row) + " |")
    summary: dict[str, list[str]] = defaultdict(list)
    for letters in results.values():
        pages = [p for r in letters for p in r.pages]
        ds = [d for p in pages for d in p.details]
        summary["**all kinds (recall)**"].append(_pct(sum(d.found for d in ds), len(ds)))
        summary["value readable by OCR at all"].append(_pct(sum(d.located for d in ds), len(ds)))
        summary["details leaking (any output)"].append(
            _pct(sum(bool(d.leaks) for d in ds), len(ds))
        )
        summary["**words kept**"].append(
            _pct(sum(p.ordinary_kept for p in pages), sum(p.ordinary_read for p in pages))
        )
        summary["ordinary words OCR read"].append(
            _pct(sum(p.ordinary_read for p in pages), sum(p.ordinary_total for p in pages))
        )
        summary["pages needing a person (needs_human)"].append(
            _pct(sum(p.needs_human for p in pages), len(pages))
        )
        summary["pages failing verification"].append(
            _pct(sum(not p.verified for p in pages), len(pages))
        )
        released = [r for r in letters if r.auto_released]
        summary["**letters auto-released**"].append(_pct(len(released), len(letters)))
        summary["**details not burned or machine-readable in auto-released letters**"].append(
            str(sum(r.leaks for r in released))
        )
        held = [r for r in letters if not r.auto_released]
        summary["held letters with a page needing a person"].append(
            str(sum(any(p.needs_human for p in r.pages) for r in held))
        )
        summary["held letters with a page failing verification"].append(
            str(sum(any(not p.verified for p in r.pages) for r in held))
        )
        summary["mean page confidence"].append(
            f"{sum(p.confidence for p in pages) / max(1, len(pages)):.1f}"
        )
        summary["seconds per page (OCR + re-OCR + PDF)"].append(
            f"{sum(p.seconds for p in pages) / max(1, len(pages)):.1f}"
        )
    for name, values in summary.items():
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    problems: dict[str, int] = defaultdict(int)
    for letters in results.values():
        for r in letters:
            for p in r.pages:
                for problem in p.problems:
                    problems[f"{r.style}: {problem}"] += 1
    if problems:
        lines += ["", "Verification problems (re-OCR of burned pages):", ""]
        lines += [f"- {name}: {count} page(s)" for name, count in sorted(problems.items())]
    lines += ["", *NOTES]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=8, help="letters per style")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--styles", nargs="*", default=["typed", "handwriting"])
    parser.add_argument("--degrade", default="scan", choices=["none", "scan", "hard"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(
        args.letters,
        args.seed,
        args.styles,
        degrade=args.degrade,
        log=lambda s: print(s, flush=True),  # noqa: T201
    )
    text = report(
        results, seconds=time.perf_counter() - started, seed=args.seed, degrade=args.degrade
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)  # noqa: T201
    typed = results.get("typed", [])
    typed_ok = all(d.found and not d.leaks for r in typed for p in r.pages for d in p.details)
    released_ok = all(
        r.leaks == 0 for letters in results.values() for r in letters if r.auto_released
    )
    return 0 if typed_ok and released_ok else 1


if __name__ == "__main__":
    sys.exit(main())
