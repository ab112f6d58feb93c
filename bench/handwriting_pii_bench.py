"""Planted details on handwriting pages: found by the finders on the words the pipeline reads.

    .venv/bin/python -m bench.handwriting_pii_bench                      # 2 pages per face
    .venv/bin/python -m bench.handwriting_pii_bench --seed-offset 500    # other letters
    .venv/bin/python -m bench.handwriting_pii_bench --from-json X.json --baseline a4751b3

One-page handwriting-style letters with planted personal details (the pages of
`bench.handwriting_bench`: every face the generator uses, "tuned on", and every other Debian
handwriting face installed, "not tuned on") are read once as `ocr.pipeline.read_page` reads
them with the settings' defaults (Tesseract, PP-OCR where Tesseract cannot vouch). The words
are kept (`--json`), so the finders can be scored again without OCR (`--from-json`), also as
they were at an earlier commit (`--baseline`, from `git archive` of it).

For each planted detail (`bench._redaction_eval.locate`, `letters.redaction.find_details` with
the letter's sender and the sample watch list):
- *read*: OCR read something close enough to the value to find it in the words;
- *found*: every word of what was read lies in a finding (burned). A detail OCR did not read is
  not found; the misses are split into *reading* (not read) and *finders* (read, not burned).
- *words kept*: ordinary ground-truth words OCR read that are still in the pen pal's words.
Writes bench/results/handwriting_pii.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

RESULTS = Path(__file__).parent / "results" / "handwriting_pii.md"
ROOT = Path(__file__).resolve().parent.parent
GROUPS = {"handwriting": "tuned on", "untuned": "not tuned on"}
TARGET = 0.95
# A planted value is burned when this share of its ink lies under the page's boxes.
INK_SHARE = 0.9
# Below this phase-correlation response the upright page and the clean page do not line up.
MIN_ALIGNMENT = 0.3


NOTES = [
    "",
    "Notes:",
    "",
    "- The rules these figures measure (2026-12-01, `ocr/numbers.py`, `ocr/pii.py`; tests in "
    "`tests/test_pii_handwriting.py`): a part of a number with three real digits or more may "
    "hold one character in four that is no look-alike, never beside a letter (\"6011 C096 2829 "
    "4386\", \"555 U142\"); circled and full-width digits are digits (\"⑤555 ⑤51 ⑤32\"); a word "
    "of 6-12 capitals and digits that alternate at least twice, with two real digits or more, "
    "is an identifier (\"ZZA8L84?\" for 22A8684, \"ISAO73O?\" for 15A0730); a watch-list word of "
    "five letters or more may be read with one letter wrong (\"LAKESMORE CLINIC\"); an email "
    "whose dots OCR lost or spaced goes whole; a street line's unit number read without its "
    "\"#\" keeps the city line with it.",
    "- They were made on the pages of `--seed-offset 0` (the table above, so not a hold-out). "
    "The same bench on other letters, `--seed-offset 500` (50 pages, read once before the "
    "identifier, email and address rules were written and scored again after): ink burned, "
    "tuned on 97.3 % (36/37; before 94.6 %), not tuned on 85.4 % (135/158; before 79.7 %); "
    "words kept 99.7 % / 99.9 % (unchanged). Its misses of the finders: a watch term read "
    "glued (\"GreenfieldoLibrary\"), watch words with a letter added or lost (\"inakeshore "
    "Glinic\", \"Saint gnes hoir\", \"GIYM\"), a phone read all in look-alikes with one real "
    "digit (\"ZI7 SSS DIZS\": \"DIZS\" holds the vowel I, and making I no vowel would burn "
    "\"GOD 2024\").",
    "- What is left is the reading: four faces (ecolier, joscelyn, femkeklaver, kristi; "
    "PP-OCR CER 25 %, 32 %, 3 %, 7 % in *Handwriting*) whose digits PP-OCR drops or reads as "
    "nothing a rule can tell from a word (\"(5a) -a\" for (718) 555-0141; \"it is now.\" with "
    "the number gone). Pages that did not line up with the clean page (read upside down or "
    "turned: ecolier, kristi, joscelyn) count as not burned.",
    "- Safe numbers and ordinary words in typed text (`bench.pii_formats_bench --holdout`, "
    "after these rules): ordinary words kept 100.0 % (31627/31627), safe numbers kept 98.0 % "
    "(530/541), personal values found as before.",
]


def _note(message: str) -> None:
    sys.stderr.write(message + "\n")


# --- reading ----------------------------------------------------------------------------------


def _read_one(spec_dict: dict) -> dict:
    from bench._redaction_eval import detail_ink, page_shift
    from bench.handwriting_bench import PageSpec, render
    from ocr.pipeline import read_page

    spec = PageSpec(**spec_dict)
    letter = render(spec)
    t0 = time.process_time()
    prepared, page = read_page(letter.pages[1])
    cpu = time.process_time() - t0
    clean = letter.clean_pages[1]
    shift = page_shift(clean, prepared.image)
    return {"spec": spec_dict, "truth": letter.page_texts[1], "engine": page.engine,
            "sender": letter.sender.inmate_number, "confidence": page.confidence,
            "cpu": cpu, "page": page.to_json(), "shift": shift,
            "details": [{"kind": d.kind, "value": d.value, "ink": detail_ink(clean, d, shift)}
                        for d in letter.details if d.page == 2]}


def _init_worker() -> None:
    from ocr import ppocr

    os.environ["OMP_THREAD_LIMIT"] = "1"
    ppocr.engine()


def read_pages(per_font: int, offset: int, workers: int) -> tuple[list[dict], float]:
    from bench.handwriting_bench import page_specs

    specs = [dataclasses.asdict(dataclasses.replace(s, seed=s.seed + offset))
             for s in page_specs(per_font) if s.group in GROUPS]
    _note(f"reading {len(specs)} pages")
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        pages = list(pool.map(_read_one, specs))
    return pages, time.perf_counter() - started


# --- scoring (no OCR) ---------------------------------------------------------------------------


def score(pages: list[dict]) -> dict:
    """Counts per group and the misses, with the finders of this tree."""
    from bench._redaction_eval import _tokens, ink_burned, locate
    from letterbridge.samples import WATCH_TERMS
    from letters.redaction import PiiContext, find_details, pen_pal_words
    from ocr.redact import MARKERS, covers_from_findings
    from ocr.types import OcrPage

    markers = set(MARKERS.values())
    counts: dict[str, Counter] = defaultdict(Counter)
    misses = []
    for p in pages:
        group = p["spec"]["group"]
        words = OcrPage.from_json(p["page"]).words
        context = PiiContext(sender_number=p["sender"], watch_terms=list(WATCH_TERMS),
                             known_inmate_numbers=[])
        findings = find_details(words, context)
        burned = {i for f in findings for i in f.word_indices}
        boxes = [b for f in findings for b in f.boxes]
        aligned = p["shift"][2] >= MIN_ALIGNMENT
        for d in p["details"]:
            where = locate(words, d["value"])
            c = counts[group]
            c["planted"] += 1
            c[f"planted {d['kind']}"] += 1
            c["read"] += where is not None
            ok = where is not None and set(where) <= burned
            c["found"] += ok
            share = ink_burned(d["ink"], boxes) if aligned else 0.0
            inked = share >= INK_SHARE
            c["ink burned"] += inked
            c[f"ink burned {d['kind']}"] += inked
            c["unaligned"] += not aligned
            if not inked:
                misses.append({"group": group, "font": p["spec"]["font"], "engine": p["engine"],
                               "kind": d["kind"], "share": share, "found": ok,
                               "read": " ".join(words[i].text for i in where) if where else "",
                               "left": [words[i].text for i in (where or []) if i not in burned]})
        text = p["truth"]
        for d in p["details"]:
            for line in d["value"].split("\n"):
                text = text.replace(line, " ")
        truth = _tokens(text)
        read = truth & _tokens(" ".join(w.text for w in words))
        kept = read & _tokens(" ".join(w.text for w in pen_pal_words(words, covers_from_findings(findings))
                                       if w.text not in markers))
        counts[group]["words read"] += sum(read.values())
        counts[group]["words kept"] += sum(kept.values())
    return {"counts": {g: dict(c) for g, c in counts.items()}, "misses": misses}


def score_at(commit: str, json_path: Path) -> dict:
    """`score` with the finders as they were at `commit` (a temporary `git archive` of it)."""
    with tempfile.TemporaryDirectory(prefix="lb-hwpii-") as tmp:
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        # Score with this tree's scorer (and its `locate`), the old finders.
        for helper in ("bench/handwriting_pii_bench.py", "bench/_redaction_eval.py"):
            (Path(tmp) / helper).write_text((ROOT / helper).read_text())
        out = Path(tmp) / "score.json"
        subprocess.run([sys.executable, "-m", "bench.handwriting_pii_bench", "--from-json",
                        str(json_path), "--score-only", str(out)], cwd=tmp, check=True,
                       env={**os.environ, "PYTHONPATH": tmp})
        return json.loads(out.read_text())


# --- report ---------------------------------------------------------------------------------------


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}% ({k}/{n})" if n else "–"


def report(pages: list[dict], after: dict, before: dict | None, meta: dict) -> tuple[str, bool]:
    faces = {g: len({p["spec"]["font"] for p in pages if p["spec"]["group"] == g}) for g in GROUPS}
    cpu = sum(p.get("cpu", 0.0) for p in pages)
    lines = [
        "## Planted details on handwriting pages (finders on the pipeline's words)",
        "",
        f"Read {meta['started'][:16].replace('T', ' ')} UTC by `python -m "
        f"bench.handwriting_pii_bench --per-font {meta['per_font']} --seed-offset "
        f"{meta['offset']}`: {len(pages)} one-page letters read as `read_page` reads them "
        f"(defaults), {meta['wall']:.0f} s wall on 2 workers, {cpu:.0f} CPU s of read_page in "
        f"the workers (Tesseract's children not counted). {meta['host']}",
        "",
        "- *read*: OCR read something close enough to the value to find it in the words;",
        "- *found*: all of what was read lies in findings (the redaction bench's measure; a value "
        "not read is not found);",
        f"- *ink burned*: {INK_SHARE:.0%} or more of the value's ink (from the generator's clean "
        "page, lined up with the upright page by phase correlation) lies under the findings' "
        "boxes: what a person looking at the delivered page could not read, however OCR read it;",
        "- *words kept*: ordinary words OCR read that are still in the pen pal's words.",
    ]
    if before:
        lines.append(f"- *before*: the finders at `{meta['baseline']}`, on the same words.")
    head = ("| hands | pages | planted | read by OCR | found | **ink burned** | words kept |"
            + (" before: found | before: ink burned | before: words kept |" if before else ""))
    lines += ["", head, "|" + "---|" * (head.count("|") - 1)]
    ok = True
    for group, name in GROUPS.items():
        c = Counter(after["counts"].get(group, {}))
        n_pages = sum(p["spec"]["group"] == group for p in pages)
        row = (f"| {name} ({faces[group]} faces) | {n_pages} | {c['planted']} | "
               f"{pct(c['read'], c['planted'])} | {pct(c['found'], c['planted'])} | "
               f"**{pct(c['ink burned'], c['planted'])}** | "
               f"{pct(c['words kept'], c['words read'])} |")
        if before:
            b = Counter(before["counts"].get(group, {}))
            row += (f" {pct(b['found'], b['planted'])} | {pct(b['ink burned'], b['planted'])} | "
                    f"{pct(b['words kept'], b['words read'])} |")
        lines.append(row)
        ok = ok and c["ink burned"] >= TARGET * c["planted"]
    kinds = sorted({k.split(" ", 1)[1] for c in after["counts"].values() for k in c
                    if k.startswith("planted ")})
    lines += ["", "Ink burned per kind:", "", "| kind | " + " | ".join(GROUPS.values()) + " |",
              "|---|---|---|"]
    for kind in kinds:
        cells = [pct(after["counts"].get(g, {}).get(f"ink burned {kind}", 0),
                     after["counts"].get(g, {}).get(f"planted {kind}", 0)) for g in GROUPS]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    unaligned = sum(c.get("unaligned", 0) for c in after["counts"].values())
    reading = [m for m in after["misses"] if not m["found"]]
    finders = [m for m in after["misses"] if m["found"]]
    by_font = Counter(m["font"] for m in after["misses"])
    lines += [
        "",
        f"Target (issue 15): planted details found ≥ {TARGET:.0%} (ink burned). "
        + ("Met in both groups." if ok else "**Not met in every group.**")
        + (f" {unaligned} values on pages that did not line up count as not burned." if unaligned
           else ""),
        "",
        f"Values with ink left readable: {len(after['misses'])}, by face: "
        + (", ".join(f"{font} {n}" for font, n in by_font.most_common()) or "none") + ".",
        f"Of them {len(reading)} OCR did not read as the value or read only in part (not *found*): "
        "the reading's misses; the finders burn what was read of them when it looks like a "
        f"number. {len(finders)} were *found* in the words but their ink is not all under boxes "
        "(a word box shorter than its ink):",
        "",
    ]
    lines += [f"- {GROUPS[m['group']]}, {m['font']} ({m['engine']}), {m['kind']}: "
              f"{m['share']:.0%} of its ink burned, read as `{m['read']}`" for m in finders] or ["- none"]
    lines += ["", "The reading's misses:", ""]
    lines += [f"- {GROUPS[m['group']]}, {m['font']} ({m['engine']}), {m['kind']}: "
              f"{m['share']:.0%} burned, read as `{m['read'] or '(nothing close)'}`"
              + (f", not burned: `{' '.join(m['left'])}`" if m["left"] else "")
              for m in reading] or ["- none"]
    lines += NOTES
    return "\n".join(lines) + "\n", ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-font", type=int, default=2, help="pages per face")
    parser.add_argument("--seed-offset", type=int, default=0, help="other letters (a hold-out)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="keep the readings here")
    parser.add_argument("--from-json", type=Path, help="score readings kept by --json again")
    parser.add_argument("--baseline", help="also score with the finders at this commit")
    parser.add_argument("--score-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
    else:
        from bench.ocr_bench import machine

        started, host = datetime.now(UTC).isoformat(), machine()
        pages, wall = read_pages(args.per_font, args.seed_offset, args.workers)
        saved = {"pages": pages, "meta": {"started": started, "host": host, "wall": wall,
                                          "per_font": args.per_font, "offset": args.seed_offset}}
        json_path = args.json or Path(tempfile.mkstemp(suffix=".json")[1])
        json_path.write_text(json.dumps(saved))
        args.from_json = json_path
    after = score(saved["pages"])
    if args.score_only:
        args.score_only.write_text(json.dumps(after))
        return 0
    before = score_at(args.baseline, args.from_json) if args.baseline else None
    meta = {**saved["meta"], "baseline": args.baseline}
    text, ok = report(saved["pages"], after, before, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    _note(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
