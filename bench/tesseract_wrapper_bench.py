"""Tesseract through pytesseract (ocr/tesseract.py) against the wrapper it replaced, same pages, same run.

Run: .venv/bin/python -m bench.tesseract_wrapper_bench [--pages 12] [--rounds 2] [--out PATH]

The replaced wrapper (our own subprocess call, TSV read from stdout) is taken from git
(`git show <rev>:ocr/tesseract.py`, default the commit before pytesseract came in) and loaded
beside today's module. Every generated page is read by both, one after the other, the order
swapped from page to page and round to round so that drift in a shared machine's load falls
on both alike. For each call: wall time, our own CPU (time.process_time) and the CPU of the
Tesseract children (getrusage RUSAGE_CHILDREN). The readings must be word-for-word the same.
Writes bench/results/tesseract_wrapper.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

from bench._ocr_set import make_pages
from ocr import tesseract as current

HERE = Path(__file__).parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results" / "tesseract_wrapper.md"
# The last commit whose ocr/tesseract.py ran the program itself.
DEFAULT_BASELINE = "d283aac"
LANGUAGES = "eng+spa"


def load_baseline(rev: str) -> ModuleType:
    """The replaced wrapper, loaded as its own module from `git show REV:ocr/tesseract.py`."""
    source = subprocess.run(["git", "show", f"{rev}:ocr/tesseract.py"], cwd=ROOT, check=True,
                            capture_output=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="lb-bench-"))
    path = folder / "tesseract_baseline.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("tesseract_baseline", path)
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load the baseline wrapper")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Tally:
    wall: list[float] = field(default_factory=list)
    own_cpu: list[float] = field(default_factory=list)
    child_cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, own: float, child: float) -> None:
        self.wall.append(wall)
        self.own_cpu.append(own)
        self.child_cpu.append(child)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(call: Callable[[], object], tally: Tally) -> object:
    wall0, own0, child0 = time.perf_counter(), time.process_time(), _children_cpu()
    result = call()
    tally.add(time.perf_counter() - wall0, time.process_time() - own0, _children_cpu() - child0)
    return result


def read_both_ways(module: ModuleType, image: np.ndarray) -> tuple[list, int]:
    """What one page costs the ingest: OSD once, then the words (eng+spa), as read_page does."""
    rotation = module.detect_orientation(image)
    page = module.ocr_image(image, languages=LANGUAGES)
    return page.words, rotation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--small-calls", type=int, default=40,
                        help="readings of a one-line page, to see each wrapper's own cost per call")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # our process; the children get 1 either way
    baseline = load_baseline(args.baseline)
    pages = make_pages(args.pages, seed=3)
    wrappers = {"subprocess (before)": baseline, "pytesseract (now)": current}
    tallies = {name: Tally() for name in wrappers}
    mismatches: list[str] = []
    load_before = os.getloadavg()[0]
    for rnd in range(args.rounds):
        for i, page in enumerate(pages):
            names = list(wrappers)
            if (i + rnd) % 2:
                names.reverse()
            results = {}
            for name in names:
                image = page.image
                results[name] = timed(lambda m=wrappers[name], im=image: read_both_ways(m, im),
                                      tallies[name])
            first, second = (results[n] for n in wrappers)
            if first != second:
                mismatches.append(page.id)
            sys.stderr.write(f"round {rnd + 1} page {i + 1}/{len(pages)}\n")
    overhead = {name: Tally() for name in wrappers}
    small = _small_page()
    for i in range(args.small_calls):
        names = list(wrappers) if i % 2 == 0 else list(reversed(wrappers))
        for name in names:
            timed(lambda m=wrappers[name]: m.ocr_image(small, languages="eng"), overhead[name])
    load_after = os.getloadavg()[0]
    report = render(args, pages, tallies, mismatches, (load_before, load_after), overhead)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    sys.stdout.write(report)
    return 1 if mismatches else 0


def _small_page() -> np.ndarray:
    """A strip with one printed line: Tesseract's own work is small, the wrapper's cost shows."""
    strip = np.full((160, 1400), 255, np.uint8)
    cv2.putText(strip, "Dear Maria, thank you", (40, 100), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 0, 4)
    return strip


def render(args: argparse.Namespace, pages: list, tallies: dict[str, Tally], mismatches: list[str],
           load: tuple[float, float], overhead: dict[str, Tally]) -> str:
    before, now = (tallies[n] for n in tallies)
    calls = len(before.wall)

    def total(values: list[float]) -> float:
        return sum(values)

    def ratio(a: list[float], b: list[float]) -> str:
        return f"{total(b) / total(a):.3f}"

    per_call_ratio = statistics.median(n / b for b, n in zip(before.wall, now.wall, strict=True))
    rows = [
        ("wall time, all calls (s)", before.wall, now.wall),
        ("Tesseract children CPU (s)", before.child_cpu, now.child_cpu),
        ("our own CPU (s)", before.own_cpu, now.own_cpu),
    ]
    lines = [
        "# Tesseract wrapper: pytesseract against our own subprocess call",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/tesseract_wrapper_bench.py "
        f"--pages {args.pages} --rounds {args.rounds}` on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, shared; load average {load[0]:.1f} → {load[1]:.1f}); "
        f"{current.engine_version()}, pytesseract {_version('pytesseract')}.",
        "",
        f"{len(pages)} generated letter pages (typed and handwriting-style, scan and hard "
        f"degradations, some sideways), each read {args.rounds}× by each wrapper in alternating "
        f"order: OSD then words with `{LANGUAGES}`, as `read_page` uses them ({calls} page "
        "readings per wrapper). Baseline: `git show "
        f"{args.baseline}:ocr/tesseract.py`, loaded beside today's module in the same process.",
        "",
        "| | subprocess (before) | pytesseract (now) | now / before |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, a, b in rows:
        lines.append(f"| {label} | {total(a):.2f} | {total(b):.2f} | {ratio(a, b)} |")
    lines += [
        f"| median of per-reading wall ratios | | | {per_call_ratio:.3f} |",
        "",
        "Same words, boxes, confidences and rotation on every page: "
        + ("yes." if not mismatches else f"**no**, differs on {', '.join(mismatches)}."),
        "",
        f"Each wrapper's own cost per call, from {args.small_calls} readings each of a one-line "
        "strip (1400×160, `eng`), alternating, where Tesseract's work is small:",
        "",
        "| per call (ms) | subprocess (before) | pytesseract (now) | now − before |",
        "| --- | ---: | ---: | ---: |",
        *_overhead_rows(overhead),
        "",
        "What pytesseract adds per call: it names an output file in the temporary folder and "
        "Tesseract writes the TSV there instead of to stdout (read back and removed), and it "
        "starts the child with Popen/communicate. Our side of the call is the same as before: "
        "the page is written once as a PGM in /dev/shm, and Tesseract gets OMP_THREAD_LIMIT=1.",
        "",
    ]
    return "\n".join(lines)


def _overhead_rows(overhead: dict[str, Tally]) -> list[str]:
    before, now = (overhead[n] for n in overhead)
    rows = []
    for label, a, b in (("median wall", before.wall, now.wall),
                        ("median Tesseract CPU", before.child_cpu, now.child_cpu),
                        ("median our own CPU", before.own_cpu, now.own_cpu)):
        ma, mb = statistics.median(a) * 1000, statistics.median(b) * 1000
        rows.append(f"| {label} | {ma:.1f} | {mb:.1f} | {mb - ma:+.1f} |")
    return rows


def _version(dist: str) -> str:
    return importlib.metadata.version(dist)


if __name__ == "__main__":
    raise SystemExit(main())
