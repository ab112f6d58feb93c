"""Handwritten mail end to end: handwritten letters in handwritten envelopes, through `letterbridge ingest`.

    .venv/bin/python -m bench.handwritten_mail_bench                 # 7 + 7 letters
    .venv/bin/python -m bench.handwritten_mail_bench --letters 4     # a quick look

Generated handwriting-style letters (letterbridge.samples, "scan" degradation, planted personal
details, other prisoners' numbers among them) whose envelopes are written in the same hand go
through the real pipeline as shipped: `letterbridge ingest` against a running Prefect server,
both OCR engines on (LETTERBRIDGE_OCR_SECOND_ENGINE=true), the program's watch list in the
database, the roster imported first. Half the letters are in the faces the generator uses
("tuned on"), half in other Debian handwriting faces forced on letter and envelope alike ("not
tuned on": nothing in the project was tuned on them); the two are reported apart.

Then, from the database and the blob store:
- envelopes routed right (the writer and their pen pal), misroutes (routed to anyone else),
  unrouted;
- letters released untouched (no person looked), and for each of them every planted value
  looked for in the redacted text, `pdftotext` of the delivered PDF and the delivered page
  images read again by Tesseract and by PP-OCR (`bench/_redaction_eval.leaked`); a planted value
  that OCR read on the page but that no active box covers counts as a leak too (a person reads
  the pixels);
- held letters with their reasons.
CPU seconds (`letterbridge ingest` and its children, the Prefect server beside it) are given
with wall time: the 2-core machine is shared. Writes bench/results/handwritten_mail.md; the
exit status is 1 when a target of issue 15 is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from bench._redaction_eval import detail_ink, ink_burned, leaked, locate, page_shift
from bench.ingest_bench import VENV_BIN, start_prefect
from bench.ocr_bench import machine
from letterbridge.samples import WATCH_TERMS, fonts, make_roster, write_letter
from letterbridge.samples import letter as letter_module

RESULTS = Path(__file__).parent / "results" / "handwritten_mail.md"
TARGETS = {"routed": 0.95, "released": 0.50}
# A planted value is burned when this share of its ink lies under the page's boxes; below this
# phase-correlation response a delivered page does not line up with the generator's clean page
# (see bench/handwriting_pii_bench.py).
INK_SHARE = 0.9
MIN_ALIGNMENT = 0.3
GROUPS = ("tuned on", "not tuned on")
TYPED_GROUPS = ("typed", "typed, not tuned on")
TYPED_RESULTS = Path(__file__).parent / "results" / "typed_mail.md"
# Issue 14: typed letters that should reach a pen pal released untouched, none with a leak.
TYPED_TARGETS = {"routed": 0.95, "released": 0.95}
NOTES = [
    "",
    "Other runs, 2026-12-01 (the first three on the same 14 letters, seed 15):",
    "",
    "- 12:38, with the first handwriting rules of `ocr/numbers.py` (a stray letter in a number, "
    "circled digits, watch words a letter off): routed right 13/14, 0 misrouted; released "
    "10/14 with **2 leaks** in them. A dkg letter's address \"8786 Highland Place #35 / "
    "Lubbock, TX 79470\" was read \"... Place 35 / Lubbock, T79470\": the street line was "
    "burned, the unit and city line were not. A bw-learn letter named another prisoner, "
    "22A8684, read \"ZZA8L84?\": no finder took it, and the check after burning never saw it (it "
    "reads again only the bands around the boxes; a page without boxes is not read again). "
    "Fixed by a unit number without its \"#\" keeping the city line with the street, a word "
    "that reads as an identifier with digits misread being burned, and the first reading "
    "checked like a re-read (`letters.redaction.check_reading`).",
    "- 12:52, with the finders fixed but before the first-reading check: routed right 13/14, 0 "
    "misrouted; released 10/14, 0 leaks; held the same four letters as above. 796 s wall, "
    "206 CPU s of ingest (load average 8-12: four other agents' jobs).",
    "- 13:07, with the first-reading check: 0 leaks, but released 9/14: it held a humor-sans "
    "letter for its date line \"JUNE 25. 2024\" (PP-OCR read the comma as a dot; the check "
    "took \"25. 2024\" for a number). Fixed in `ocr.redact` (a day followed by a dot is a day).",
    "- Other letters, `--seed 16` (made after every rule above; 13:20, load 0.3): routed "
    "right 14/14, 0 misrouted; released 11/14 (tuned on 6/7, not tuned on 5/7), 0 leaks in "
    "them (54 values checked); held: a dkg letter for a failed check, bw-mentor and kristi "
    "pages the reader cannot vouch for. 101 s wall.",
    "- 23:15, seed 15, before PP-OCR read the bands around burned boxes at the page's own "
    "scale (its detector enlarged a short stack of bands to 736 pixels, so a page's "
    "verification cost more than its reading): the same outcome letter by letter; ingest "
    "136 s wall, 218 CPU s; the engines alone on the same pages 102 s (Tesseract 20, rapidocr "
    "82): 0.75x. The run above, after: 109 s, 189 CPU s; 1.21x (its plain rapidocr took "
    "110 s: the machine's speed drifts between runs, so the ratio, measured in one run, is "
    "what compares).",
    "- Letters not seen before, seed 41 (00:30), before and after reading the bands at the "
    "page's scale, same code otherwise: the same outcome letter by letter (routed right 13/14, "
    "0 misrouted; released 9/14, 0 leaks in 37 values); ingest 138 -> 117 s wall, 228 -> 202 "
    "CPU s; against both engines alone in the same run 0.73x -> 0.96x.",
    "- Held in this run: havana (a street address read \"3393 Chestnut Blod, Evie, PA\", which "
    "no finder took: the first-reading check held it), ecolier (unrouted, nothing readable), "
    "dancing-script and femkeklaver (pages the reader cannot vouch for).",
    "- Both engines read as shipped; envelopes: Tesseract first, PP-OCR when the roster does "
    "not confirm (`letters.routing`, commit cd0e00f and after). The one unrouted letter is in "
    "ecolier (PP-OCR CER 25 % on its letter pages): no sender was read well enough to route, "
    "which is the safe way to fail.",
]

TYPED_NOTES = [
    "",
    "Other runs, 2026-12-01 (typed mail):",
    "",
    "- 13:41, seed 15, 14 letters all in the generator's typed faces (before the typed group "
    "not tuned on existed): routed 14/14, released 12/14, 0 leaks. Held: a liberation-sans "
    "page whose ink cues agreed, wrongly, that it was upside down (it was read upside down, "
    "PP-OCR read nonsense, and it waited for a transcription); and a letter whose sender wrote "
    "her own number in two words (\"#22 A8684\"), which the first-reading check counted as a "
    "word mixing letters and digits. Fixed: a page that reads badly is checked half a turn "
    "round however its first turn was chosen (`ocr.pipeline.read_page`), and the sender's "
    "number may span up to three words on a line (`ocr.redact.mixed_words`).",
    "- 15:08, seed 15 again with both fixes: routed 14/14, released **14/14**, 0 leaks (64 "
    "values checked).",
    "- 15:15, seed 23 (new letters; 7 in the generator's faces, 7 in faces not tuned on): "
    "routed 13/14, released 13/14, 0 leaks. The one miss: an envelope typed in FreeMono (a "
    "hairline typewriter face) was taken for a blank back, so the letter had no envelope and "
    "waited unrouted (the safe way to fail). Fixed: the blank test keeps each block's darkest "
    "pixel instead of averaging (`ocr.preprocess.is_blank`). The run below is on letters made "
    "after every fix above.",
]


@dataclasses.dataclass
class Case:
    letter: object  # letterbridge.samples.SampleLetter
    group: str
    font: str
    volunteer: str  # the writer's pen pal's email
    # filled in from the database
    status: str = ""
    routed: str = ""  # "right" | "misrouted" | "unrouted"
    reasons: list[str] = dataclasses.field(default_factory=list)
    checked: int = 0  # planted values checked in a released letter
    leaks: list[str] = dataclasses.field(default_factory=list)  # "kind in road"
    pages: int = 0
    unaligned: int = 0  # released pages that did not line up with the clean page (ink not checked)


def _note(message: str) -> None:
    sys.stderr.write(message + "\n")


def make_cases(n_per_group: int, seed: int, roster, *, typed: bool = False) -> list[Case]:
    """`n_per_group` letters in the generator's own hands and as many in hands it does not use
    (each forced on the letter and its envelope), from matched writers, 1-2 pages each; or,
    `typed`, typed letters in typed envelopes (issue 14's typed mail): `n_per_group` in the
    generator's typed faces and as many in typed faces it never uses
    (`fonts.EXTRA_TYPED_FONTS`)."""
    matched = dict(roster.matches)
    senders = [p for p in roster.inmates if p.inmate_number in matched]
    extra = fonts.EXTRA_TYPED_FONTS if typed else fonts.EXTRA_HANDWRITING_FONTS
    untuned = [f.key for f in extra if _installed(f.key)]
    random.Random(seed).shuffle(untuned)
    cases = []
    for group in (TYPED_GROUPS if typed else GROUPS):
        for i in range(n_per_group):
            n = len(cases)
            sender = senders[n % len(senders)]
            kwargs = dict(seed=seed * 1000 + n, style="typed" if typed else "handwriting",
                          language="spa" if i % 4 == 3 else "eng", n_pages=1 + i % 2,
                          others=roster.inmates)
            if group in ("tuned on", "typed"):
                letter = letter_module.make_letter(sender, **kwargs)
            else:
                face = untuned[i % len(untuned)]
                if not fonts.ALL_FONTS[face].latin1:
                    kwargs["language"] = "eng"
                letter = _in_face(sender, face, kwargs)
            cases.append(Case(letter, group, letter.font, matched[sender.inmate_number]))
    return cases


def _installed(key: str) -> bool:
    try:
        fonts.font_path(key)
    except fonts.FontMissing:
        return False
    return True


def _in_face(sender, face: str, kwargs: dict):  # SampleLetter
    """The generator's letter with its hand's face swapped for `face` (as the handwriting bench
    does); the envelope is written in the same face."""
    original = letter_module.choose_hand

    def forced(rng: random.Random, **kw: object):  # Hand
        return dataclasses.replace(original(rng, **kw), font_key=face)

    with mock.patch.object(letter_module, "choose_hand", forced):
        return letter_module.make_letter(sender, **kwargs)


# --- the run -----------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    """CPU seconds of a running process (user + system), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def ingest(home: Path, api: str, csvs: dict, scans: list[Path]) -> tuple[float, float]:
    """Roster import, watch list, then `letterbridge ingest` of every scan: (wall s, CPU s)."""
    env = {**os.environ, "LETTERBRIDGE_HOME": str(home), "OMP_THREAD_LIMIT": "1",
           "PREFECT_HOME": str(home / "prefect"), "PREFECT_API_URL": api,
           "LETTERBRIDGE_OCR_SECOND_ENGINE": "true"}
    lb = str(VENV_BIN / "letterbridge")
    subprocess.run([lb, "roster", "import", *[a for k, p in csvs.items() for a in (f"--{k}", str(p))]],
                   env=env, check=True, capture_output=True)
    _use_home(home)
    from storage.db import session_scope
    from storage.models import WatchTerm

    with session_scope() as session:  # the program's private watch list
        session.add_all(WatchTerm(term=term) for term in WATCH_TERMS)
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run([lb, "ingest", *map(str, scans)], env=env, check=True, capture_output=True)
    return time.perf_counter() - started, _children_cpu() - cpu


_PLAIN_PPOCR = None  # each worker process's RapidOCR, loaded once (plain_engines)


def _load_plain_ppocr() -> None:
    global _PLAIN_PPOCR
    from rapidocr import RapidOCR
    from rapidocr.utils.typings import ModelType, OCRVersion

    # rapidocr as a user would run it: its own pipeline and defaults, the same PP-OCRv6 small
    # models ingest uses, the 0/180° classifier off, one thread per process (one per core).
    _PLAIN_PPOCR = RapidOCR(params={
        "Global.use_cls": False, "Global.log_level": "error",
        "Det.ocr_version": OCRVersion.PPOCRV6, "Rec.ocr_version": OCRVersion.PPOCRV6,
        "Det.model_type": ModelType.SMALL, "Rec.model_type": ModelType.SMALL,
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1})


def _plain_ppocr_page(path: str) -> int:
    result = _PLAIN_PPOCR(path)
    return len(result.txts or ())


def plain_engines(cases: list[Case], folder: Path) -> dict[str, float]:
    """Both engines alone on the same page images (PNG, envelopes included), each keeping both
    cores busy: plain `tesseract -l eng+spa`, two at a time; then plain rapidocr (PP-OCR) in
    two processes, each loading its models once. Wall seconds of each."""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    pngs = []
    for n, case in enumerate(cases):
        for i, page in enumerate(case.letter.pages, start=1):
            pngs.append(str(folder / f"letter-{n:03d}-{i}.png"))
            cv2.imwrite(pngs[-1], page)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def tesseract(path: str) -> None:
        subprocess.run(["tesseract", path, "-", "-l", "eng+spa", "--dpi", "300"], env=env,
                       check=True, capture_output=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(tesseract, pngs))
    t_tesseract = time.perf_counter() - started
    started = time.perf_counter()
    with ProcessPoolExecutor(2, initializer=_load_plain_ppocr) as pool:
        list(pool.map(_plain_ppocr_page, pngs))
    t_ppocr = time.perf_counter() - started
    return {"tesseract": t_tesseract, "ppocr": t_ppocr, "pages": len(pngs)}


def _use_home(home: Path) -> None:
    from config.settings import reset_settings
    from storage import blobs, db

    os.environ["LETTERBRIDGE_HOME"] = str(home)
    os.environ.pop("LETTERBRIDGE_DATABASE_URL", None)
    os.environ.pop("LETTERBRIDGE_CONFIG", None)
    reset_settings()
    db.dispose_engines()
    blobs._stores.clear()


# --- scoring -----------------------------------------------------------------------------------


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def score(cases: list[Case], home: Path) -> float:
    """Fill in each case from the database; returns the CPU seconds of the leak re-reads."""
    from ocr import ppocr
    from ocr.images import decode_image
    from ocr.tesseract import ocr_image
    from ocr.types import OcrPage
    from storage.blobs import get_blob_store
    from storage.db import session_scope
    from storage.models import ItemStatus, MailItem, PageKind

    _use_home(home)
    by_file = {Path(c.letter.files[0]).name: c for c in cases}
    store = get_blob_store()
    cpu = time.process_time() + _children_cpu()
    with session_scope() as session:
        for item in session.query(MailItem).all():
            case = by_file.get(item.source.filename)
            if case is None:
                continue
            case.status = item.status
            case.reasons = sorted(str(r) for r in item.review_reasons)
            sender = case.letter.sender.inmate_number
            if item.inmate is None and item.volunteer is None:
                case.routed = "unrouted"
            elif (item.inmate is not None and item.inmate.inmate_number == sender
                  and item.volunteer is not None and item.volunteer.email == case.volunteer):
                case.routed = "right"
            else:
                case.routed = "misrouted"
            if item.status != ItemStatus.released:
                continue
            pages = sorted((p for p in item.pages if p.kind == PageKind.letter), key=lambda p: p.index)
            case.pages = len(pages)
            roads: dict[str, str] = {
                "redacted text": " ".join(p.redacted_text for p in pages),
                "pdf": _pdftotext(store.get(item.delivered_pdf_key)),
            }
            images = [decode_image(store.get(p.redacted_key)) for p in pages]
            roads["image read by Tesseract"] = " ".join(ocr_image(img).text for img in images)
            roads["image read by PP-OCR"] = " ".join(ppocr.ocr_image(img).text for img in images)
            # Every value's ink must lie under the page's boxes (a person reads the pixels),
            # and so must every word where OCR read it.
            unburned: Counter[str] = Counter()
            for page, image in zip(pages, images, strict=True):
                at = page.source_page - item.first_source_page + 1  # 1-based, envelope is 1
                clean = case.letter.clean_pages[at - 1]
                words = OcrPage.from_json(store.get(page.words_key)).words
                boxes = [(r.x0, r.y0, r.x1, r.y1) for r in page.redactions if r.active]
                shift = page_shift(clean, image)
                if shift[2] < MIN_ALIGNMENT:
                    case.unaligned += 1
                for detail in (d for d in case.letter.details if d.page == at):
                    where = locate(words, detail.value) or []
                    if any(not any(_overlaps(words[i].box, b) for b in boxes) for i in where):
                        unburned[f"{detail.kind} read by OCR under no box"] += 1
                    elif shift[2] >= MIN_ALIGNMENT and ink_burned(
                            detail_ink(clean, detail, shift), boxes) < INK_SHARE:
                        unburned[f"{detail.kind}'s ink not under a box"] += 1
            for detail in case.letter.details:
                case.checked += 1
                for road, text in roads.items():
                    if leaked(text, detail):
                        case.leaks.append(f"{detail.kind} in the {road}")
            case.leaks += [what for what, n in unburned.items() for _ in range(n)]
    return time.process_time() + _children_cpu() - cpu


def _pdftotext(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-q", "-", "-"], input=pdf, capture_output=True,
                          check=True, timeout=60).stdout.decode("utf-8", "replace")


# --- the report ---------------------------------------------------------------------------------


def pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}% ({k}/{n})" if n else "–"


def _speed_lines(wall: float, pages: int, plain: dict[str, float] | None) -> list[str]:
    """Ingest against the two engines' own time on the same pages, in the same run (issue 18:
    ≥ 0.8×)."""
    if not plain:
        return []
    both = plain["tesseract"] + plain["ppocr"]
    ppm = lambda seconds: pages * 60 / seconds  # noqa: E731
    return [
        "",
        "Speed against the engines alone on the same page images, in the same run (each "
        "keeping both cores busy):",
        "",
        "| run | seconds | pages/min | ingest against it |",
        "|---|---:|---:|---:|",
        f"| plain `tesseract -l eng+spa`, every page | {plain['tesseract']:.1f} | "
        f"{ppm(plain['tesseract']):.1f} | {plain['tesseract'] / wall:.2f}× |",
        f"| plain rapidocr (PP-OCR, the same models), every page | {plain['ppocr']:.1f} | "
        f"{ppm(plain['ppocr']):.1f} | {plain['ppocr'] / wall:.2f}× |",
        f"| **both engines, every page** | {both:.1f} | {ppm(both):.1f} | **{both / wall:.2f}×** |",
        f"| `letterbridge ingest` (all it does) | {wall:.1f} | {ppm(wall):.1f} | 1.00× |",
    ]


def report(cases: list[Case], *, wall: float, cpu: float, server_cpu: float, check_cpu: float,
           started: datetime, host: str, args: argparse.Namespace,
           plain: dict[str, float] | None = None) -> tuple[str, bool]:
    pages = sum(len(c.letter.pages) for c in cases)
    typed = args.typed
    groups, targets = (TYPED_GROUPS, TYPED_TARGETS) if typed else (GROUPS, TARGETS)
    lines = [
        "## Typed mail end to end" if typed else "## Handwritten mail end to end",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, `python -m bench.handwritten_mail_bench "
        f"{'--typed ' if typed else ''}--letters {args.letters} --seed {args.seed}`: "
        f"{len(cases)} {'typed' if typed else 'handwriting-style'} letters "
        f"({pages} pages, envelopes included, \"scan\" degradation) in "
        f"{'typed' if typed else 'handwritten'} envelopes, "
        "through `letterbridge ingest` against a running Prefect server, both OCR engines on as "
        f"shipped. {host}",
        "",
        f"Ingest: {wall:.0f} s wall, {cpu:.0f} CPU s (`letterbridge ingest` and its Tesseract "
        f"children) + {server_cpu:.0f} CPU s of the Prefect server; "
        f"{cpu / max(1, pages):.1f} CPU s per page. The leak checks below (each released page "
        f"read again by both engines) took another {check_cpu:.0f} CPU s.",
        *_speed_lines(wall, pages, plain),
        "",
        "| hands | letters | envelopes routed right | misrouted | unrouted | released untouched | "
        "values checked in released letters | leaks in released letters | held |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    for name, sel in (*((g, [c for c in cases if c.group == g]) for g in groups), ("all", cases)):
        n = len(sel)
        right = sum(c.routed == "right" for c in sel)
        mis = sum(c.routed == "misrouted" for c in sel)
        unrouted = sum(c.routed == "unrouted" for c in sel)
        released = [c for c in sel if c.status == "released"]
        leaks = sum(len(c.leaks) for c in released)
        held = sum(c.status != "released" for c in sel)
        lines.append(f"| {name} | {n} | {pct(right, n)} | {mis} | {unrouted} | "
                     f"{pct(len(released), n)} | {sum(c.checked for c in released)} | {leaks} | "
                     f"{held} |")
        if name == "all":
            ok = (right >= targets["routed"] * n and mis == 0 and leaks == 0
                  and len(released) >= targets["released"] * n)
    lines += [
        "",
        f"Targets (issue {14 if typed else 15}): routed right ≥ {targets['routed']:.0%} with 0 "
        f"misroutes; released untouched ≥ {targets['released']:.0%} with 0 leaks in them. "
        + ("All met." if ok else "**Not all met.**"),
        "",
        "| letter | hands | face | pages | routed | status | held for | leaks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        lines.append(f"| {c.letter.id} | {c.group} | {c.letter.font} | {len(c.letter.pages)} | "
                     f"{c.routed} | {c.status} | {', '.join(c.reasons) or '–'} | "
                     f"{', '.join(c.leaks) or '–'} |")
    reasons = Counter(r for c in cases if c.status != "released" for r in c.reasons)
    lines += [
        "",
        "Held letters by reason (a letter may have several): "
        + (", ".join(f"`{r}` {n}" for r, n in reasons.most_common()) or "none") + ".",
        "",
        "- *routed right*: the item's writer is the envelope's sender and its pen pal the "
        "writer's match; *misrouted*: routed to anyone else; *unrouted*: no writer chosen (the "
        "mailroom picks one).",
        "- *leak*: a planted value (digits only for phone, SSN, card, bank) readable in the "
        "redacted text, `pdftotext` of the delivered PDF, or the delivered images read again by "
        "Tesseract or by PP-OCR; or read by OCR on the page with a word of it under no box; or "
        f"less than {INK_SHARE:.0%} of its ink (the generator's clean page lined up with the "
        "delivered one by phase correlation) under the page's boxes, however OCR read it."
        + (f" Released pages that did not line up (ink not checked): "
           f"{sum(c.unaligned for c in cases)}." if any(c.unaligned for c in cases) else ""),
        *(["- *not tuned on*: typed faces the generator never draws with "
           "(`letterbridge.samples.fonts.EXTRA_TYPED_FONTS`), each forced on the letter and its "
           "envelope.", *TYPED_NOTES] if typed else [
            "- The envelope and the letter are written in the same face; the generator's own "
            "hands for envelopes are those it marks `envelope_ok`, the faces not tuned on are "
            "used as they come (the hardest of them are hard to read on any page).",
            *NOTES]),
    ]
    return "\n".join(lines) + "\n", ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=7, help="letters per group of hands")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--typed", action="store_true",
                        help="typed letters in typed envelopes instead (issue 14's targets)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--rescore", type=Path,
                        help="score a folder kept by --keep again (same --letters and --seed)")
    args = parser.parse_args(argv)
    args.out = args.out or (TYPED_RESULTS if args.typed else RESULTS)
    work = args.rescore or args.keep or Path(tempfile.mkdtemp(prefix="lb-hwmail-bench-"))
    roster = make_roster(max(12, args.letters), seed=args.seed)
    cases = make_cases(args.letters, args.seed, roster, typed=args.typed)
    scans = [work / "scans" / f"letter-{n:03d}.pdf" for n in range(len(cases))]
    server = None
    try:
        if args.rescore:
            run = json.loads((work / "run.json").read_text())
            for case, path in zip(cases, scans, strict=True):
                case.letter.files = [str(path)]
        else:
            run = {"started": datetime.now(UTC).isoformat(), "host": machine()}
            csvs = roster.write_csvs(work / "roster")
            for case, path in zip(cases, scans, strict=True):
                write_letter(case.letter, path)
            _note(f"{len(cases)} letters written; starting Prefect")
            server, api = start_prefect(work / "prefect-server")
            server_cpu = _proc_cpu(server.pid)
            run["wall"], run["cpu"] = ingest(work / "home", api, csvs, scans)
            run["server_cpu"] = _proc_cpu(server.pid) - server_cpu
            _note(f"ingested in {run['wall']:.0f} s; the plain engines on the same pages")
            run["plain"] = plain_engines(cases, work / "pages")
            (work / "run.json").write_text(json.dumps(run))
            _note(f"ingested in {run['wall']:.0f} s; checking")
        check_cpu = score(cases, work / "home")
        text, ok = report(cases, wall=run["wall"], cpu=run["cpu"], server_cpu=run["server_cpu"],
                          check_cpu=check_cpu, started=datetime.fromisoformat(run["started"]),
                          host=run["host"], args=args, plain=run.get("plain"))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        if not (args.keep or args.rescore):
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    _note(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
