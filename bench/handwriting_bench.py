"""Handwriting benchmark: CER per font and per OCR engine, the engine rule, cost and memory.

Run: .venv/bin/python -m bench.handwriting_bench [--per-font 2] [--ablation] [--out PATH]

Pages are generated letters (letterbridge.samples, "scan" degradation, planted personal
details) written in one chosen face each: every typed and handwriting face the generator uses
("tuned on": the project's OCR was tuned on pages in them) and every other Debian handwriting
face we could install (letterbridge.samples.fonts.EXTRA_HANDWRITING_FONTS, "not tuned on":
nothing was tuned on them, the rule's thresholds included), English and Spanish.

Each page is read the way `ocr.pipeline.read_page` reads it: prepared, read by Tesseract
(with its turn check), and read by PP-OCR on the same prepared image; the combined rule
(`ocr.engines.EngineRule`, the settings' defaults) then keeps one of the two, exactly as
read_page would. Two worker processes read the pages (one engine per core), so CPU per page
is measured per engine: Tesseract's children and PP-OCR's thread. Then:
- the rule's thresholds swept on the tuned-on fonts (the defaults are chosen there), and the
  same rule on the fonts not tuned on;
- planted numbers read back exactly per engine, and the look-alike confusions in them;
- peak RSS of one worker that runs read_page with two OCR threads (one PP-OCR engine shared
  by the threads, against one engine per thread);
- with --ablation: PP-OCR's detector size and the image it reads (binarised or grey).
Writes bench/results/handwriting.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from bench.ocr_bench import cer, machine
from letterbridge.samples import fonts
from letterbridge.samples import letter as letter_module
from letterbridge.samples.roster import make_roster
from ocr import ppocr
from ocr.engines import EngineRule, vouches
from ocr.pipeline import read_page
from ocr.preprocess import prepare
from ocr.types import OcrPage, Word

HERE = Path(__file__).parent
DEFAULT_OUT = HERE / "results" / "handwriting.md"
DIGIT_KINDS = ("phone", "ssn", "card", "bank", "inmate_number")
# Look-alikes in cursive digits that matter to the PII finders (issue 15).
LOOKALIKES = {"1": "lIi|", "0": "oOD", "5": "sS", "2": "zZ", "6": "bG", "9": "gq", "7": "T", "8": "B",
              "4": "A"}


def _note(message: str) -> None:
    sys.stderr.write(message + "\n")


# --- the page set ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PageSpec:
    font: str
    group: str  # typed | handwriting (tuned on) | untuned
    language: str
    seed: int

    @property
    def style(self) -> str:
        return "typed" if self.group == "typed" else "handwriting"


def page_specs(per_font: int) -> list[PageSpec]:
    """`per_font` pages per face and language it can write (Spanish only where it has the
    accents): English and Spanish alternate seeds so both languages get different letters."""
    groups = [("typed", fonts.TYPED_FONTS), ("handwriting", fonts.HANDWRITING_FONTS),
              ("untuned", fonts.EXTRA_HANDWRITING_FONTS)]
    specs = []
    for group, faces in groups:
        for spec in faces:
            try:
                fonts.font_path(spec.key)
            except fonts.FontMissing:
                _note(f"font {spec.key} not installed ({spec.package}): left out")
                continue
            languages = ["eng", "spa"] if spec.latin1 else ["eng"]
            for k in range(per_font):
                language = languages[k % len(languages)]
                specs.append(PageSpec(spec.key, group, language, seed=1000 + 17 * k + len(specs)))
    return specs


def render(spec: PageSpec):  # SampleLetter
    """One one-page letter in the chosen face: the generator as it is, with its hand's face
    swapped for `spec.font` (size, spacing, ink, ruling and degradation stay the generator's)."""
    original = letter_module.choose_hand

    def forced(rng: random.Random, **kwargs: object):  # Hand
        return dataclasses.replace(original(rng, **kwargs), font_key=spec.font)

    roster = make_roster(6, seed=spec.seed)
    with mock.patch.object(letter_module, "choose_hand", forced):
        return letter_module.make_letter(roster.inmates[spec.seed % 6], seed=spec.seed,
                                         style=spec.style, language=spec.language, n_pages=1,
                                         pii=True, degrade="scan")


# --- one page in a worker process --------------------------------------------------------


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def read_one(spec: PageSpec) -> dict:
    """Render, then read like read_page: Tesseract (with its turn check), PP-OCR on the same
    prepared image. CPU per engine: Tesseract's child processes, PP-OCR's own thread
    (onnxruntime runs one thread, the caller's)."""
    letter = render(spec)
    img, truth = letter.pages[1], letter.page_texts[1]
    c_cpu = _children_cpu()
    prepared, tess = read_page(img, rule=EngineRule.tesseract_only())
    tess_cpu = _children_cpu() - c_cpu
    prep_cpu = sum(prepared.timings.values())
    t0 = time.thread_time()
    pp = ppocr.ocr_image(prepared.ocr_image)
    pp_cpu = time.thread_time() - t0
    details = [{"kind": d.kind, "value": d.value} for d in letter.details if d.page == 2]
    return {
        "spec": dataclasses.asdict(spec), "truth": truth,
        "tess": {"text": tess.text, "conf": tess.confidence, "cpu": tess_cpu,
                 "words": [(w.text, w.conf) for w in tess.words]},
        "pp": {"text": pp.text, "conf": pp.confidence, "cpu": pp_cpu},
        "prep_cpu": prep_cpu, "details": details,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    ppocr.engine()  # load once per worker, before the clock starts on any page


def read_all(specs: list[PageSpec], workers: int) -> tuple[list[dict], float]:
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        results = []
        for i, res in enumerate(pool.map(read_one, specs), 1):
            results.append(res)
            if i % 10 == 0:
                _note(f"  {i}/{len(specs)} pages read")
    return results, time.perf_counter() - started


# --- scoring ------------------------------------------------------------------------------


@dataclasses.dataclass
class Page:
    raw: dict
    rule: EngineRule

    @property
    def group(self) -> str:
        return self.raw["spec"]["group"]

    @property
    def font(self) -> str:
        return self.raw["spec"]["font"]

    @property
    def language(self) -> str:
        return self.raw["spec"]["language"]

    @property
    def truth(self) -> str:
        # A face that draws capitals only: the generator upper-cases the truth text (as it
        # does for Humor Sans); done here too for runs saved before a face was marked so.
        spec = fonts.ALL_FONTS[self.font]
        return self.raw["truth"].upper() if spec.caps_only else self.raw["truth"]

    def cer(self, engine: str) -> float:
        return cer(self.truth, self.raw[engine]["text"])

    def vouched(self, below: float | None = None, share: float | None = None) -> bool:
        words = [Word(t, c, 0, 0, 0, 0) for t, c in self.raw["tess"]["words"]]
        page = OcrPage(words=words)
        if below is None:
            return self.rule.tesseract_vouches(page)
        return vouches(page, below, share if share is not None else self.rule.max_doubtful_share)

    def combined_engine(self, below: float | None = None, share: float | None = None) -> str:
        if not self.rule.second_engine:
            return "tess"
        return "tess" if self.vouched(below, share) else "pp"

    def combined_cer(self, below: float | None = None, share: float | None = None) -> float:
        return self.cer(self.combined_engine(below, share))

    def combined_cpu(self, below: float | None = None, share: float | None = None) -> float:
        extra = self.raw["pp"]["cpu"] if self.combined_engine(below, share) == "pp" else 0.0
        return self.raw["tess"]["cpu"] + extra


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.2f} %"


def _find(value: str, text: str) -> tuple[bool, list[tuple[str, str]]]:
    """Whether `value` was read back exactly (spacing aside), and the character substitutions
    in the best-matching stretch of the reading."""
    want = " ".join(value.split())
    got = " ".join(text.split())
    if want in got:
        return True, []
    align = fuzz.partial_ratio_alignment(want, got)
    if align is None or align.score < 60:
        return False, []
    stretch = got[align.dest_start : align.dest_end]
    subs = [(want[op.src_pos], stretch[op.dest_pos])
            for op in Levenshtein.editops(want, stretch) if op.tag == "replace"]
    return False, subs


# --- memory and threads in one worker -----------------------------------------------------


_WORKER = r"""
import json, resource, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from ocr import ppocr
from ocr.pipeline import read_page
mode, paths = sys.argv[1], sys.argv[2:]
if mode == "per-thread":  # one PP-OCR engine per OCR thread instead of one per process
    local = threading.local()
    def engine():
        if not hasattr(local, "engine"):
            local.engine = ppocr._build_engine()
        return local.engine
    ppocr.engine = engine
def load(path):
    with open(path, "rb") as fh:
        fh.readline(); w, h = map(int, fh.readline().split()); fh.readline()
        return np.frombuffer(fh.read(), np.uint8).reshape(h, w)
images = [load(p) for p in paths]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
threads = 1 if mode == "one-thread" else 2
started = time.perf_counter(); cpu = time.process_time()
with ThreadPoolExecutor(threads) as pool:
    pages = list(pool.map(lambda img: read_page(img)[1], images))
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"mode": mode, "threads": threads, "pages": len(pages),
                  "engines": sorted({p.engine for p in pages}),
                  "wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "tesseract_cpu": ru.ru_utime + ru.ru_stime, "images_mb": base,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def worker_memory(images: list[np.ndarray]) -> list[dict]:
    """Peak RSS and time of one worker process running read_page over handwriting pages with
    one and two OCR threads (and with one PP-OCR engine per thread)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(images):
            path = Path(tmp) / f"p{i}.pgm"
            h, w = img.shape
            path.write_bytes(b"P5\n%d %d\n255\n" % (w, h) + np.ascontiguousarray(img).tobytes())
            paths.append(str(path))
        for mode in ("one-thread", "shared", "per-thread"):
            proc = subprocess.run(
                [sys.executable, "-c", _WORKER, mode, *paths], capture_output=True, check=True,
                cwd=HERE.parent, env={**os.environ, "PYTHONPATH": str(HERE.parent), "OMP_THREAD_LIMIT": "1"},
            )
            out.append(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
            _note(f"  worker {mode}: {out[-1]}")
    return out


# --- ablation: PP-OCR's own options --------------------------------------------------------


def _ablation_one(args: tuple[PageSpec, int, str]) -> dict:
    spec, det_side, image = args
    letter = render(spec)
    prepared = prepare(letter.pages[1], osd=False)
    img = prepared.ocr_image if image == "binarised" else prepared.image
    t0 = time.thread_time()
    raw = ppocr.run_ppocr(img, det_max_side=det_side, timeout=300)
    cpu = time.thread_time() - t0
    text = OcrPage(words=ppocr.words_from_output(raw, img)).text
    return {"det": det_side, "image": image, "cer": cer(letter.page_texts[1], text), "cpu": cpu,
            "group": spec.group}


def ablation(specs: list[PageSpec], workers: int) -> list[dict]:
    variants = [(1280, "binarised"), (960, "binarised"), (2000, "binarised"), (1280, "grey")]
    jobs = [(s, d, i) for d, i in variants for s in specs]
    with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
        return list(pool.map(_ablation_one, jobs))


# --- report -------------------------------------------------------------------------------


def report(pages: list[Page], wall: float, workers: int, memory: list[dict], abl: list[dict],
           started: datetime) -> str:
    rule = pages[0].rule
    lines = [
        "# Handwriting: two OCR engines",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, `python -m bench.handwriting_bench` "
        f"({len(pages)} generated one-page letters, \"scan\" degradation, {workers} worker processes, "
        f"{wall:.0f} s wall). {machine()}. PP-OCR: {ppocr.engine_version()}.",
        "",
        "Each page is read as `ocr.pipeline.read_page` reads it: prepared, Tesseract (with its "
        "turn check), PP-OCR on the same prepared image; **rule** is what read_page keeps with "
        f"the default settings (PP-OCR when Tesseract's real words average below "
        f"{rule.below_confidence:g} or more than {rule.max_doubtful_share:.0%} of them read below 60). "
        "CER = Levenshtein distance / truth length, whitespace normalised, case kept. "
        "*Tuned on*: the faces the sample generator uses (the project's OCR and this rule were "
        "tuned on them); *not tuned on*: every other Debian handwriting face installed.",
        "",
        "## Summary",
        "",
        "| pages | n | Tesseract CER | PP-OCR CER | rule CER | read by PP-OCR | "
        "CPU s/page Tesseract | PP-OCR | rule |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, sel: list[Page]) -> str:
        if not sel:
            return f"| {name} | 0 | | | | | | | |"
        share = mean(1.0 if p.combined_engine() == "pp" else 0.0 for p in sel)
        return (f"| {name} | {len(sel)} | {pct(mean(p.cer('tess') for p in sel))} | "
                f"{pct(mean(p.cer('pp') for p in sel))} | {pct(mean(p.combined_cer() for p in sel))} | "
                f"{share:.0%} | {mean(p.raw['tess']['cpu'] for p in sel):.2f} | "
                f"{mean(p.raw['pp']['cpu'] for p in sel):.2f} | {mean(p.combined_cpu() for p in sel):.2f} |")

    for name, pred in [
        ("typed (tuned on)", lambda p: p.group == "typed"),
        ("handwriting, tuned on", lambda p: p.group == "handwriting"),
        ("handwriting, not tuned on", lambda p: p.group == "untuned"),
        ("typed, English", lambda p: p.group == "typed" and p.language == "eng"),
        ("typed, Spanish", lambda p: p.group == "typed" and p.language == "spa"),
        ("handwriting (all), English", lambda p: p.group != "typed" and p.language == "eng"),
        ("handwriting (all), Spanish", lambda p: p.group != "typed" and p.language == "spa"),
    ]:
        lines.append(row(name, [p for p in pages if pred(p)]))
    lines += [
        "",
        "CPU per page: Tesseract = its child processes (its turn check's extra readings "
        "included); PP-OCR = the reading thread (onnxruntime runs one thread, the caller's); "
        "rule = Tesseract, plus PP-OCR where the rule asks for it. Preprocessing (the same for "
        "both) is left out.",
        "",
        "## Per font",
        "",
        "| group | font | n | Tesseract CER | PP-OCR CER | rule CER | read by PP-OCR | Tesseract conf |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_font: dict[tuple[str, str], list[Page]] = defaultdict(list)
    for p in pages:
        by_font[(p.group, p.font)].append(p)
    for (group, font), sel in by_font.items():
        share = mean(1.0 if p.combined_engine() == "pp" else 0.0 for p in sel)
        lines.append(f"| {group} | {font} | {len(sel)} | {pct(mean(p.cer('tess') for p in sel))} | "
                     f"{pct(mean(p.cer('pp') for p in sel))} | {pct(mean(p.combined_cer() for p in sel))} | "
                     f"{share:.0%} | {mean(p.raw['tess']['conf'] for p in sel):.1f} |")
    if fonts.UNUSABLE_HANDWRITING_PACKAGES:
        lines += ["", "Left out: " + "; ".join(f"{k} ({v})" for k, v in
                                              fonts.UNUSABLE_HANDWRITING_PACKAGES.items()) + "."]

    # what Tesseract's confidence says about its CER
    lines += [
        "",
        "## What Tesseract's confidence predicts",
        "",
        "Pages by Tesseract's mean confidence over its real words (all pages, all faces): its "
        "CER climbs as its confidence falls, and PP-OCR's does not.",
        "",
        "| Tesseract mean conf | pages | Tesseract CER | PP-OCR CER | share of them handwriting |",
        "|---|---|---|---|---|",
    ]
    edges = [(95, 101), (92, 95), (90, 92), (85, 90), (80, 85), (70, 80), (0, 70)]
    for lo, hi in edges:
        sel = [p for p in pages if lo <= p.raw["tess"]["conf"] < hi]
        if sel:
            hand = mean(1.0 if p.group != "typed" else 0.0 for p in sel)
            lines.append(f"| {lo}–{min(hi, 100)} | {len(sel)} | {pct(mean(p.cer('tess') for p in sel))} | "
                         f"{pct(mean(p.cer('pp') for p in sel))} | {hand:.0%} |")

    lines += [
        "",
        "PP-OCR's own page confidence (mean over real words of the mean character probability, "
        "×100) against its CER, for whoever calibrates the hold policy on PP-OCR pages:",
        "",
        "| PP-OCR mean conf | pages | PP-OCR CER | worst page |",
        "|---|---|---|---|",
    ]
    for lo, hi in [(99, 101), (98, 99), (97, 98), (95, 97), (90, 95), (0, 90)]:
        sel = [p for p in pages if lo <= p.raw["pp"]["conf"] < hi]
        if sel:
            lines.append(f"| {lo}–{min(hi, 100)} | {len(sel)} | {pct(mean(p.cer('pp') for p in sel))} | "
                         f"{pct(max(p.cer('pp') for p in sel))} |")

    # threshold sweep, chosen on the tuned-on pages
    lines += [
        "",
        "## The rule's thresholds",
        "",
        "Swept on the tuned-on pages (typed and the generator's handwriting faces); the same "
        "thresholds on the pages not tuned on beside them. Cost = mean CPU s/page of the rule.",
        "",
        "| below conf | max doubtful | tuned: CER | tuned: to PP-OCR | tuned: CPU | typed CER | "
        "not tuned: CER | not tuned: to PP-OCR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    tuned = [p for p in pages if p.group != "untuned"]
    untuned = [p for p in pages if p.group == "untuned"]
    typed = [p for p in pages if p.group == "typed"]
    for below in (0, 80, 85, 88, 90, 92, 93, 94, 95, 96, 101):
        for share in ((0.1, 0.2) if below == 94 else (0.1,) if 0 < below < 101 else (1.0,)):
            def c(sel: list[Page], b: float = below, s: float = share) -> float:
                return mean(p.combined_cer(b, s) for p in sel)

            def to(sel: list[Page], b: float = below, s: float = share) -> str:
                return f"{mean(1.0 if p.combined_engine(b, s) == 'pp' else 0.0 for p in sel):.0%}"
            label = {0: "Tesseract only", 101: "PP-OCR always"}.get(below, f"{below:g}")
            lines.append(f"| {label} | {share:.0%} | {pct(c(tuned))} | {to(tuned)} | "
                         f"{mean(p.combined_cpu(below, share) for p in tuned):.2f} | {pct(c(typed))} | "
                         f"{pct(c(untuned))} | {to(untuned)} |")

    # planted numbers and look-alike confusions
    lines += ["", "## Planted numbers on handwriting pages", ""]
    found: dict[str, Counter] = {"tess": Counter(), "pp": Counter()}
    subs: dict[str, Counter] = {"tess": Counter(), "pp": Counter()}
    total = Counter()
    for p in pages:
        if p.group == "typed":
            continue
        for d in p.raw["details"]:
            if d["kind"] not in DIGIT_KINDS and d["kind"] not in ("email", "address"):
                continue
            total[p.group] += 1
            for eng in ("tess", "pp"):
                value = d["value"].upper() if fonts.ALL_FONTS[p.font].caps_only else d["value"]
                ok, s = _find(value, p.raw[eng]["text"])
                found[eng][p.group] += ok
                if d["kind"] in DIGIT_KINDS:
                    subs[eng].update(s)
    lines += ["| pages | planted | read exactly by Tesseract | by PP-OCR |", "|---|---|---|---|"]
    for g in ("handwriting", "untuned"):
        lines.append(f"| {g} | {total[g]} | {found['tess'][g]} | {found['pp'][g]} |")
    for eng, name in (("pp", "PP-OCR"), ("tess", "Tesseract")):
        digit = [(a, b, n) for (a, b), n in subs[eng].most_common() if a.isdigit()]
        lines += ["", f"{name}'s substitutions inside planted numbers (truth → read, count), "
                  "digits only: " + (", ".join(f"`{a}`→`{b}` {n}" for a, b, n in digit[:20]) or "none") + "."]
        look = sum(n for a, b, n in digit if b in LOOKALIKES.get(a, ""))
        lines.append(f"Of {sum(n for _a, _b, n in digit)} digit substitutions, {look} are to a "
                     "look-alike letter (l/I/i/| for 1, o/O/D for 0, s/S for 5, z/Z for 2, "
                     "b/G for 6, g/q for 9, …).")

    lines += [
        "",
        "Read exactly = the planted value appears verbatim in the reading (spacing aside), before "
        "any look-alike folding; PP-OCR's misses are mostly letters for digits (0→O, 1→I/l, 2→Z), "
        "which the PII finders' look-alike folding (ocr/pii.py) is there to catch.",
    ]
    if memory:
        lines += ["", "## One worker: memory and threads", "",
                  "read_page with the default rule over the same handwriting pages in one fresh "
                  "process (ru_maxrss; Tesseract runs in child processes, not counted here; "
                  "\"images\" is the RSS after loading the page images, before any OCR).", "",
                  "| mode | OCR threads | pages | engines used | wall s | CPU s (ours + Tesseract) | "
                  "RSS after images MB | peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
        for m in memory:
            lines.append(f"| {m['mode']} | {m['threads']} | {m['pages']} | {', '.join(m['engines'])} | "
                         f"{m['wall']:.1f} | {m['cpu'] + m['tesseract_cpu']:.1f} | {m['images_mb']:.0f} | "
                         f"{m['peak_mb']:.0f} |")
        lines += ["", "*shared*: one PP-OCR engine per process used by both threads (what ocr.ppocr "
                  "does); *per-thread*: one engine per thread."]
    if abl:
        lines += ["", "## PP-OCR's options (ablation)", "",
                  "| detector long side | image PP-OCR reads | pages | CER | CPU s/page |",
                  "|---|---|---|---|---|"]
        groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
        for a in abl:
            groups[(a["det"], a["image"])].append(a)
        for (det, image), sel in groups.items():
            lines.append(f"| {det} | {image} | {len(sel)} | {pct(mean(a['cer'] for a in sel))} | "
                         f"{mean(a['cpu'] for a in sel):.2f} |")
    lines += [
        "",
        "## Decisions taken from these figures",
        "",
        "- **Rule**: Tesseract first; PP-OCR when Tesseract's real words average below 94 (or more "
        "than 10 % of them read below 60; the share never decided a page here). Chosen on the "
        "tuned-on pages: every typed page read at 95.8 or more, so typed mail never pays for "
        "PP-OCR, and below 94 Tesseract's CER climbs from ~0.2 % to 1–50 %. 93 → 94 → 95 "
        "buys little more CER for a larger share of PP-OCR; 96 starts sending typed pages.",
        "- **Envelopes**: Tesseract first, PP-OCR again when the roster does not confirm "
        "Tesseract's reading (`letters.routing.tesseract_vouches`; see *Routing*). Before "
        "2026-12-01 PP-OCR read every envelope.",
        "- **Threads**: one PP-OCR engine per process shared by its OCR threads (onnxruntime "
        "sessions run from several threads at once; intra-op threads 1): same CPU as one engine "
        "per thread, less memory; one detection at a time per process (memory, below).",
        "- **Detector size 1280 px long side, binarised page**: see the ablation (when run).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-font", type=int, default=2, help="pages per face")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ablation", action="store_true", help="also PP-OCR's detector size and input")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--fonts", help="comma-separated faces only (a quick look)")
    parser.add_argument("--json", type=Path, help="also write the per-page results here")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--from-json", type=Path,
                        help="render the report again from a --json file of an earlier run")
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        pages = [Page(r, EngineRule()) for r in saved["pages"]]
        args.out.write_text(report(pages, saved["wall"], saved["workers"], saved["memory"],
                                   saved["ablation"], datetime.fromisoformat(saved["started"])))
        _note(f"wrote {args.out}")
        return 0
    if not ppocr.available():
        _note("PP-OCR is not installed (pip install rapidocr onnxruntime)")
        return 2
    started = datetime.now(UTC)
    specs = page_specs(args.per_font)
    if args.fonts:
        specs = [s for s in specs if s.font in args.fonts.split(",")]
    _note(f"reading {len(specs)} pages with both engines")
    raw, wall = read_all(specs, args.workers)
    rule = EngineRule()
    pages = [Page(r, rule) for r in raw]
    memory: list[dict] = []
    if not args.no_memory:
        _note("one worker's memory")
        hand = [s for s in specs if s.group != "typed"][:: max(1, len(specs) // 8)][:4]
        memory = worker_memory([render(s).pages[1] for s in hand])
    abl: list[dict] = []
    if args.ablation:
        _note("ablation")
        sample = [s for s in specs if s.group != "typed"][::4][:10]
        abl = ablation(sample, args.workers)
    if args.json:
        args.json.write_text(json.dumps({"pages": raw, "wall": wall, "workers": args.workers,
                                         "memory": memory, "ablation": abl,
                                         "started": started.isoformat()}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(pages, wall, args.workers, memory, abl, started))
    _note(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
