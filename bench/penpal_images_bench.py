"""What a pen pal downloads per letter page, and what the screen-sized copies cost the server.

    .venv/bin/python -m bench.penpal_images_bench            # 6 letters x 3 pages
    .venv/bin/python -m bench.penpal_images_bench --letters 10

Generated 300-DPI letters (typed and handwritten, scanned; seeds not used by the tests) go
into a temporary blob store as delivered PNGs; for each page the full PNG is compared with the
600 px and 1200 px JPEGs review_ui.page_images serves, and the server time of a first request
(one decode, every width resized, encoded and stored) and of repeated ones (hash the delivered
page, read the copy) is timed. The browser test's page weights (tests/artifacts/page_weight.json, written by
tests/ui/test_ui_penpal.py) are copied in when present. Figures go to bench/results/penpal_images.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "penpal_images.md"
WEIGHTS = Path(__file__).resolve().parents[1] / "tests" / "artifacts" / "page_weight.json"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=6)
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="lb-penpal-images-")
    os.environ["LETTERBRIDGE_HOME"] = home
    os.environ["LETTERBRIDGE_BLOB_BACKEND"] = "local"
    # Imported after the environment is set: settings are read once.
    from letterbridge.samples.letter import make_letter
    from letterbridge.samples.roster import make_roster
    from ocr.images import encode_png
    from review_ui import page_images
    from storage.blobs import get_blob_store

    store = get_blob_store()
    roster = make_roster(12, seed=77)
    sizes: dict[str, list[int]] = {"png": [], **{f"w{w}": [] for w in page_images.WIDTHS}}
    first_ms: list[float] = []
    again_ms: list[float] = []
    for n in range(args.letters):
        style = "handwriting" if n % 2 else "typed"
        letter = make_letter(roster.inmates[n % len(roster.inmates)], seed=9000 + n, style=style,
                             n_pages=3, degrade="scan")
        for index, image in enumerate(letter.pages[1:], start=2):
            png = encode_png(image)
            key = store.put(f"items/bench{n}/page-{index}-delivered.png", png)
            sizes["png"].append(len(png))
            started = time.perf_counter()
            page_images.screen_image(key, page_images.WIDTHS[0])  # makes every width
            first_ms.append((time.perf_counter() - started) * 1000)
            for width in page_images.WIDTHS:
                started = time.perf_counter()
                data = page_images.screen_image(key, width)
                again_ms.append((time.perf_counter() - started) * 1000)
                sizes[f"w{width}"].append(len(data))

    pages = len(sizes["png"])
    lines = [
        "# Pen pal page images: full PNG vs screen-sized JPEG",
        "",
        f"{pages} pages ({args.letters} generated 3-page letters, 300 DPI, scanned; typed and "
        f"handwritten), `python -m bench.penpal_images_bench --letters {args.letters}`, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}.",
        "",
        "| per page | mean bytes | max bytes | a 3-page letter (mean) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, values in sizes.items():
        label = "full PNG (before)" if name == "png" else f"JPEG {name[1:]} px"
        mean = statistics.mean(values)
        lines.append(f"| {label} | {mean:,.0f} | {max(values):,} | {3 * mean:,.0f} |")
    lines += [
        "",
        "| server time per request | median ms | p95 ms |",
        "| --- | ---: | ---: |",
        f"| first (decode once, every width resized, encoded, stored) | "
        f"{statistics.median(first_ms):.1f} | "
        f"{_p95(first_ms):.1f} |",
        f"| again (hash the delivered page, read the copy) | {statistics.median(again_ms):.1f} | "
        f"{_p95(again_ms):.1f} |",
        "",
    ]
    if WEIGHTS.exists():
        lines += [
            "Whole page as loaded in chromium (every response, headers included), a 3-page "
            "letter read to the end, from the last run of tests/ui/test_ui_penpal.py:",
            "",
            "| viewport | bytes | of which images | the delivered PNGs (before) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, figures in sorted(json.loads(WEIGHTS.read_text()).items()):
            lines.append(f"| {name} | {figures['total']:,} | {figures.get('images', 0):,} | "
                         f"{figures.get('full_pngs', 0):,} |")
        lines.append("")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
