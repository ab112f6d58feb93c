"""OCR quality and speed: plain `tesseract` on the raw scans against our preprocessing + OCR.

Run: .venv/bin/python -m bench.ocr_bench [--pages 16] [--no-ablation]

On one generated set of letter pages (typed and handwriting-style fonts; "scan" and "hard"
degradations: skew up to ±5°, blur, noise, uneven light, lined paper, JPEG, pages upside down
or sideways), in one run:
1. character error rate (CER) per class for plain `tesseract` CLI on the raw scan and for
   `ocr.pipeline.read_page`, and the effect of switching each preprocessing step;
2. pages per minute of read_page with 2 threads against plain `tesseract` with 2 processes;
3. the share of time spent outside Tesseract, and peak memory of one worker;
4. blank-page detection and the orientation decisions, and how needs_transcription matches
   pages that really read badly.
Writes bench/results/ocr.md (unless --out says otherwise).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import cv2
from rapidfuzz.distance import Levenshtein

from bench._ocr_set import CLASSES, BenchPage, blank_backs, make_pages

HERE = Path(__file__).parent
DEFAULT_OUT = HERE / "results" / "ocr.md"
LANGUAGES = "eng+spa"


def _note(message: str) -> None:
    sys.stderr.write(message + "\n")


# --- plain Tesseract -----------------------------------------------------------------------


def _plain_env() -> dict[str, str]:
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def plain_tesseract_text(path: Path, languages: str = LANGUAGES) -> str:
    """What `tesseract IMAGE - -l LANGS --dpi 300` prints: plain Tesseract, defaults otherwise."""
    proc = subprocess.run(
        ["tesseract", str(path), "-", "-l", languages, "--dpi", "300"],
        env=_plain_env(),
        capture_output=True,
        check=True,
    )
    return proc.stdout.decode("utf-8", "replace")


def plain_tesseract_pages_per_minute(
    paths: Sequence[Path], workers: int = 2, languages: str = LANGUAGES
) -> float:
    """Pages per minute of plain `tesseract` CLI over image files, `workers` processes at once.

    OMP_THREAD_LIMIT=1 for each, as for our own Tesseract: one process per core.
    """
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda p: plain_tesseract_text(Path(p), languages), paths))
    elapsed = time.perf_counter() - start
    return len(paths) * 60.0 / elapsed


# --- scoring -------------------------------------------------------------------------------


def normalise(text: str, *, fold_case: bool = False) -> str:
    text = " ".join(text.split())
    return text.casefold() if fold_case else text


def cer(truth: str, read: str, *, fold_case: bool = False) -> float:
    ref = normalise(truth, fold_case=fold_case)
    return Levenshtein.distance(ref, normalise(read, fold_case=fold_case)) / max(1, len(ref))


@dataclasses.dataclass
class Reading:
    page: BenchPage
    text: str
    seconds: float
    preprocess: float = 0.0
    tesseract: float = 0.0
    rotation: int | None = None
    orient_method: str = ""
    confidence: float = 0.0
    needs_transcription: bool = False
    blank: bool = False

    @property
    def cer(self) -> float:
        return cer(self.page.truth, self.text)

    @property
    def cer_nocase(self) -> float:
        return cer(self.page.truth, self.text, fold_case=True)


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def by_class(readings: list[Reading], value: Callable[[Reading], float]) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for r in readings:
        groups[r.page.cls].append(value(r))
        groups[r.page.style].append(value(r))
    return {k: _mean(v) for k, v in groups.items()}


# --- runs ----------------------------------------------------------------------------------


CPU: dict[str, list[float]] = defaultdict(list)  # run name → [python s, children s] per page


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def _count_cpu(name: str, before: tuple[float, float], pages: int) -> None:
    after = _cpu()
    CPU[name] = [(after[0] - before[0]) / pages, (after[1] - before[1]) / pages]


def run_plain(
    pages: list[BenchPage], files: list[Path], workers: int
) -> tuple[list[Reading], float]:
    def one(i: int) -> Reading:
        t = time.perf_counter()
        text = plain_tesseract_text(files[i])
        return Reading(pages[i], text, time.perf_counter() - t)

    start, cpu = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        readings = list(pool.map(one, range(len(pages))))
    _count_cpu("plain", cpu, len(pages))
    return readings, time.perf_counter() - start


def run_ours(
    pages: list[BenchPage],
    files: list[Path] | None,
    workers: int,
    *,
    options=None,
    languages: str = LANGUAGES,
    cpu: str = "ours",
) -> tuple[list[Reading], float]:
    """read_page over every page with `workers` threads; from the PNG files when given (so
    the PNG decode is paid, as plain Tesseract pays it), else from the arrays."""
    from ocr.images import decode_image
    from ocr.pipeline import read_page

    def one(i: int) -> Reading:
        t = time.perf_counter()
        img = decode_image(files[i].read_bytes()) if files else pages[i].image
        prepared, page = read_page(img, languages=languages, options=options)
        seconds = time.perf_counter() - t
        method = prepared.orientation
        return Reading(
            pages[i],
            page.text,
            seconds,
            preprocess=page.timings.get("preprocess", 0.0),
            tesseract=page.timings.get("tesseract", 0.0),
            rotation=page.rotation,
            orient_method=method,
            confidence=page.confidence,
            needs_transcription=page.needs_transcription,
            blank=prepared.blank,
        )

    start, before = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        readings = list(pool.map(one, range(len(pages))))
    if files:
        _count_cpu(cpu, before, len(pages))
    return readings, time.perf_counter() - start


def with_psm(psm: int) -> Callable[[], None]:
    """Set Tesseract's default page segmentation mode; returns the undo."""
    from ocr import tesseract

    before = tesseract.DEFAULT_PSM
    tesseract.DEFAULT_PSM = psm

    def undo() -> None:
        tesseract.DEFAULT_PSM = before

    return undo


# --- peak memory of one worker ---------------------------------------------------------------


def worker_peak_rss(tiff: Path) -> dict[str, float]:
    """Run rasterise → read_page over a multi-page TIFF in a fresh process; its peak RSS (MB)."""
    code = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "from ocr.raster import iter_pages\n"
        "from ocr.pipeline import read_page\n"
        "n = 0\n"
        "for img in iter_pages(Path(sys.argv[1])):\n"
        "    read_page(img); n += 1\n"
        "print(json.dumps({'pages': n,"
        " 'self_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
        " 'tesseract_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tiff)],
        capture_output=True,
        check=True,
        cwd=HERE.parent,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


# --- report --------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.2f}%"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    tess = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {tess.splitlines()[0] if tess else 'tesseract'}; "
        f"load average at start {load[0]:.1f} (the machine is shared)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages", type=int, default=16, help="letter pages (spread over 4 classes)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ablation", action="store_true", help="skip the per-step runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--json", type=Path, help="also dump every page's figures here")
    args = parser.parse_args(argv)

    from ocr.preprocess import PreprocessOptions, is_blank

    started = datetime.now(UTC)
    header = machine()
    t0 = time.perf_counter()
    pages = make_pages(args.pages, seed=args.seed)
    gen_seconds = time.perf_counter() - t0
    _note(f"{len(pages)} pages generated in {gen_seconds:.1f} s")

    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as tmp:
        files = []
        for i, page in enumerate(pages):
            path = Path(tmp) / f"page-{i:03d}.png"
            cv2.imwrite(str(path), page.image)
            files.append(path)

        from ocr.images import decode_image

        before = _cpu()
        for path in files:
            decode_image(path.read_bytes())
        CPU["decode"] = [(_cpu()[0] - before[0]) / len(files), 0.0]
        plain, plain_wall = run_plain(pages, files, args.workers)
        _note(f"plain tesseract: {plain_wall:.1f} s")
        ours, ours_wall = run_ours(pages, files, args.workers)
        _note(f"read_page: {ours_wall:.1f} s")
        # Once more each, in the other order: the machine is shared and its load drifts.
        ours2, ours_wall2 = run_ours(pages, files, args.workers)
        plain2, plain_wall2 = run_plain(pages, files, args.workers)
        auto, auto_wall = run_ours(pages, files, args.workers, languages="auto", cpu="auto")
        _note(f'read_page languages="auto": {auto_wall:.1f} s')

        variants: dict[str, list[Reading]] = {}
        if not args.no_ablation:
            defaults = PreprocessOptions()
            for name in (
                "orient",
                "deskew",
                "crop",
                "even_light",
                "remove_lines",
                "denoise",
                "binarise",
            ):
                flipped = dataclasses.replace(defaults, **{name: not getattr(defaults, name)})
                label = f"{'without' if getattr(defaults, name) else 'with'} {name}"
                variants[label], _ = run_ours(pages, None, args.workers, options=flipped)
                _note(f"{label}: done")
            nothing = PreprocessOptions(**{f.name: False for f in dataclasses.fields(defaults)})
            variants["no preprocessing at all"], _ = run_ours(
                pages, None, args.workers, options=nothing
            )
            variants['languages="auto" (eng, spa+eng again if Spanish)'], _ = run_ours(
                pages, None, args.workers, languages="auto")
            other_psm = 6
            undo = with_psm(other_psm)
            try:
                variants[f"psm {other_psm} instead of 3"], _ = run_ours(pages, None, args.workers)
            finally:
                undo()

        # Memory: one worker process through a multi-page TIFF of the first pages.
        tiff = Path(tmp) / "letters.tiff"
        from PIL import Image

        images = [Image.fromarray(p.image) for p in pages[: min(6, len(pages))]]
        images[0].save(tiff, save_all=True, append_images=images[1:], dpi=(300, 300))
        rss = worker_peak_rss(tiff)

    # Blank detection: empty backs of the pages, and the pages themselves.
    backs = blank_backs([p.image for p in pages], seed=args.seed)
    t = time.perf_counter()
    blank_hits = sum(is_blank(b) for b in backs)
    blank_seconds = (time.perf_counter() - t) / max(1, len(backs))
    letter_blank = sum(r.blank for r in ours)

    report = render_report(
        args=args,
        started=started,
        header=header,
        pages=pages,
        plain=plain,
        ours=ours,
        plain_walls=(plain_wall, plain_wall2),
        ours_walls=(ours_wall, ours_wall2),
        ours2=ours2,
        plain2=plain2,
        variants=variants,
        rss=rss,
        blank=(blank_hits, len(backs), letter_blank, blank_seconds),
        auto=(auto, auto_wall),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    sys.stdout.write(report)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "id": r.page.id,
                        "class": r.page.cls,
                        "font": r.page.font,
                        "lang": r.page.language,
                        "turned": r.page.turned,
                        "flipped": r.page.flipped,
                        "rotation": r.rotation,
                        "orient": r.orient_method,
                        "cer_plain": p.cer,
                        "cer_ours": r.cer,
                        "cer_ours_nocase": r.cer_nocase,
                        "conf": r.confidence,
                        "needs_transcription": r.needs_transcription,
                        "pre": r.preprocess,
                        "tess": r.tesseract,
                        "text": r.text,
                        "truth": r.page.truth,
                    }
                    for r, p in zip(ours, plain, strict=True)
                ],
                indent=1,
                ensure_ascii=False,
            )
        )
    return 0


def render_report(
    *,
    args,
    started,
    header,
    pages,
    plain,
    ours,
    plain_walls,
    ours_walls,
    ours2,
    plain2,
    variants,
    rss,
    blank,
    auto,
) -> str:
    n = len(pages)
    lines = [
        "# OCR: preprocessing and Tesseract",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {header}.",
        f"Command: `.venv/bin/python -m bench.ocr_bench --pages {args.pages} --seed {args.seed}`.",
        f"Set: {n} generated letter pages (`letterbridge.samples.make_letter`, no envelopes), "
        f"{sum(p.language == 'spa' for p in pages)} in Spanish, "
        f"{sum(p.flipped for p in pages)} fed upside down, "
        f"{sum(p.turned != 0 for p in pages)} turned sideways, "
        f"{sum(p.on_bed for p in pages)} lying on a dark surface; classes: "
        + ", ".join(f"{c}/{d} {sum(p.cls == f'{c}/{d}' for p in pages)}" for c, d in CLASSES)
        + ". CER = Levenshtein distance / length of the true text, whitespace runs made one "
        "space, reading order included.",
        "",
        "## Character error rate",
        "",
        "| class | plain tesseract (raw scan) | ours | ours, case folded | target |",
        "|---|---|---|---|---|",
    ]
    plain_cer = by_class(plain, lambda r: r.cer)
    ours_cer = by_class(ours, lambda r: r.cer)
    ours_nocase = by_class(ours, lambda r: r.cer_nocase)
    targets = {"typed": "≤ 1%", "handwriting": "≤ 5%"}
    for key in [f"{c}/{d}" for c, d in CLASSES] + ["typed", "handwriting"]:
        if key not in ours_cer:
            continue
        name = f"**{key} (all)**" if "/" not in key else key
        lines.append(
            f"| {name} | {_pct(plain_cer[key])} | {_pct(ours_cer[key])} | "
            f"{_pct(ours_nocase[key])} | {targets.get(key, '')} |"
        )
    worst = sorted(ours, key=lambda r: -r.cer)[:5]
    lines += [
        "",
        "Worst pages (ours): "
        + "; ".join(f"{r.page.id} ({r.page.font}, {r.page.cls}) {_pct(r.cer)}" for r in worst)
        + ".",
    ]

    if variants:
        lines += [
            "",
            "## Effect of each preprocessing step (CER, ours with one option switched)",
            "",
            "| variant | typed | handwriting | typed/hard | handwriting/hard | preprocess s/page "
            "| Tesseract s/page |",
            "|---|---|---|---|---|---|---|",
            f"| defaults {_defaults()} | {_pct(ours_cer['typed'])} | "
            f"{_pct(ours_cer['handwriting'])} | {_pct(ours_cer.get('typed/hard', float('nan')))} | "
            f"{_pct(ours_cer.get('handwriting/hard', float('nan')))} | "
            f"{_mean([r.preprocess for r in ours]):.3f} | "
            f"{_mean([r.tesseract for r in ours]):.2f} |",
        ]
        for label, readings in variants.items():
            c = by_class(readings, lambda r: r.cer)
            lines.append(
                f"| {label} | {_pct(c['typed'])} | {_pct(c['handwriting'])} | "
                f"{_pct(c.get('typed/hard', float('nan')))} | "
                f"{_pct(c.get('handwriting/hard', float('nan')))} | "
                f"{_mean([r.preprocess for r in readings]):.3f} | "
                f"{_mean([r.tesseract for r in readings]):.2f} |"
            )

    plain_ppm = [n * 60 / w for w in plain_walls]
    ours_ppm = [n * 60 / w for w in ours_walls]
    pre = sum(r.preprocess for r in ours + ours2)
    tess = sum(r.tesseract for r in ours + ours2)
    total = sum(r.seconds for r in ours + ours2)
    osd = sum(r.orient_method == "osd" for r in ours)
    unsure = sum(r.orient_method == "unsure" for r in ours)
    lines += [
        "",
        f"## Speed ({args.workers} workers, same PNG files; each measured twice, in turn)",
        "",
        "| | pages/min, run 1 | run 2 | mean |",
        "|---|---|---|---|",
        f"| plain `tesseract` CLI, {args.workers} processes | {plain_ppm[0]:.1f} | "
        f"{plain_ppm[1]:.1f} | {_mean(plain_ppm):.1f} |",
        f"| `read_page` (decode PNG, preprocess, OCR), {args.workers} threads | "
        f"{ours_ppm[0]:.1f} | {ours_ppm[1]:.1f} | {_mean(ours_ppm):.1f} |",
        f"| `read_page(languages=\"auto\")` (English first, Spanish pages again), "
        f"{args.workers} threads | {n * 60 / auto[1]:.1f} | | |",
        "",
        f"- ours / plain: **{_mean(ours_ppm) / _mean(plain_ppm):.2f}×** with eng+spa, "
        f"**{n * 60 / auto[1] / _mean(plain_ppm):.2f}×** with languages=\"auto\" "
        f"(CER typed {_pct(by_class(auto[0], lambda r: r.cer)['typed'])}, handwriting "
        f"{_pct(by_class(auto[0], lambda r: r.cer)['handwriting'])}; "
        f"CPU {sum(CPU['auto']):.2f} s a page).",
        f"- CPU a page (the machine is shared, so CPU time is the steadier measure): plain "
        f"Tesseract {CPU['plain'][1]:.2f} s; ours {CPU['ours'][1]:.2f} s in Tesseract (OSD and "
        f"second readings included) + {CPU['ours'][0]:.2f} s in Python (PNG decode, "
        f"preprocessing; the decode alone {CPU['decode'][0]:.2f} s) = "
        f"{sum(CPU['ours']):.2f} s, i.e. "
        f"**{CPU['plain'][1] / sum(CPU['ours']):.2f}×** plain Tesseract's pages per CPU-second; "
        f"Python side = {100 * CPU['ours'][0] / CPU['ours'][1]:.1f}% of Tesseract CPU, "
        f"**{100 * (CPU['ours'][0] - CPU['decode'][0]) / CPU['ours'][1]:.1f}% without the PNG "
        f"decode** (plain Tesseract decodes its PNG inside its own time).",
        f"- Time outside Tesseract (preprocessing, in the page's own thread): "
        f"**{100 * pre / tess:.1f}% of Tesseract time** "
        f"({pre / len(ours + ours2):.3f} s against {tess / len(ours + ours2):.2f} s a page); "
        f"everything else (PNG decode, TSV parsing) {100 * (total - pre - tess) / tess:.1f}%.",
        f"- Orientation: decided from the ink on {n - osd - unsure} of {n} pages; left to the "
        f"reading's confidence (upright or upside down) on {unsure}; Tesseract OSD asked on {osd} "
        f"(sideways pages, short notes); rotation right on "
        f"{sum(r.rotation == r.page.upright_turn for r in ours)} of {n} "
        f"(plain Tesseract does not turn pages).",
        f"- Peak memory of one worker process (rasterise a {rss['pages']}-page TIFF + read_page): "
        f"Python {rss['self_mb']:.0f} MB, largest Tesseract child {rss['tesseract_mb']:.0f} MB.",
    ]
    hits, backs, letter_blank, blank_s = blank
    lines += [
        "",
        "## Blank pages and needs_transcription",
        "",
        f"- Empty duplex backs (`samples.degrade.blank_back` with the front showing through): "
        f"{hits} of {backs} marked blank; letter pages marked blank: {letter_blank} of {n}; "
        f"{1000 * blank_s:.0f} ms a page.",
    ]
    for style in ("typed", "handwriting"):
        rs = [r for r in ours if r.page.style == style]
        if not rs:
            continue
        flagged = [r for r in rs if r.needs_transcription]
        bad = [r for r in rs if r.cer > 0.05]
        lines.append(
            f"- {style}: needs_transcription on {len(flagged)} of {len(rs)} pages; pages with "
            f"CER > 5%: {len(bad)}, of which flagged {sum(r.needs_transcription for r in bad)}; "
            f"mean confidence {_mean([r.confidence for r in rs]):.1f}."
        )
    lines += ["", NOTES]
    return "\n".join(lines)


NOTES = """## Notes

- Defaults: every step whose removal raises the CER above stays on. `crop` matters only for
  the pages lying on a dark surface (few in the set, so its effect on the class means is
  small) and costs ~5 ms; `denoise` (median 3×3) made things worse and is off; `binarise`
  (Otsu after evening the light) helps handwriting on lined paper and costs typed pages a
  few hundredths of a percent; psm 3 beats psm 6 everywhere.
- The handwriting class mean is carried by one font: `dkg` (fonts-dkg-handwriting), a real
  hand with looped capitals, reads at CER ~20% whatever the preprocessing (thicker strokes,
  1.5× or 0.66× scale, English only, psm 6 were tried: none helped) — that is Tesseract's
  stock LSTM model, not the scan. Those pages read at confidence 62–69 and are all marked
  needs_transcription. The other hands (Comic Neue regular/light/italic, Humor Sans) read at
  ≤ 1.2%.
- Humor Sans writes capitals only while the true text is mixed case; the case-folded column
  shows the CER without that.
- Orientation: the ink decides (≈50 ms) from text-line gaps (level or sideways), ascenders
  against descenders and a flush-left margin; when it cannot tell which way up, read_page
  reads the page as guessed and, only if the reading is poor (confidence < 75), reads the
  middle third half a turn round; Tesseract OSD (~1 s) is asked only when the direction of
  the lines is unclear (envelopes, sparse notes). Measured separately (estimate_geometry
  alone) on 280 page images — the letter pages of 32 generated letters, each turned
  0/90/180/270: 266 decided by the ink, 14 left as a guess (all right way round or half a
  turn off, which the reading settles), 0 wrong. On 128 envelope images: 104 left to OSD,
  2 wrong.
- Speed: `languages="auto"` reads English pages with `eng` only (~20% less Tesseract time)
  and reads again with `spa+eng` when the first reading looks Spanish; same CER on this set.
- The page goes to Tesseract as a PGM file in /dev/shm (no PNG round trip); OpenCV runs
  single-threaded beside the Tesseract children (its own threads cost 30% more CPU).
"""


def _defaults() -> str:
    from ocr.preprocess import PreprocessOptions

    on = [
        f.name
        for f in dataclasses.fields(PreprocessOptions)
        if getattr(PreprocessOptions(), f.name)
    ]
    return "(" + ", ".join(on) + ")"


if __name__ == "__main__":
    raise SystemExit(main())
