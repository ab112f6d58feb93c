"""Hot-folder stability against slow writers: is a file taken whole, and how long after its last write?

A writer (its own process) writes a generated 3-page PDF into a hot folder in three parts with
a pause between them, like a network scanner that stops between pages. The intake keeps
looking as the flow does (`settled_files`, then a claim). For each pause and settle window we
record whether the claimed file was complete and how long after the last write it was taken.

    .venv/bin/python bench/hot_folder_settle_bench.py [--out bench/results/hot_folder_settle.md]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from intake.hot_folder import SETTLE_SECONDS, WHOLE_SETTLE_SECONDS, HotFolder, settled_files

WRITER = (
    "import os, sys, time\n"
    "data = open(sys.argv[2], 'rb').read()\n"
    "pause, marker = float(sys.argv[3]), sys.argv[4] == 'marker'\n"
    "third = len(data) // 3\n"
    "with open(sys.argv[1], 'wb') as out:\n"
    "    for n, start in enumerate(range(0, len(data), third)):\n"
    "        if n:\n"
    "            time.sleep(pause)\n"
    "        out.write(data[start:start + third])\n"
    "        out.flush()\n"
    "        os.fsync(out.fileno())\n"
    "if marker:\n"
    "    open(sys.argv[1] + '.done', 'w').close()\n"
)


def make_scan(path: Path) -> Path:
    """A 3-page PDF or TIFF (by `path`'s suffix) of noise, so it has some size."""
    rng = np.random.default_rng(7)
    pages = [Image.fromarray(rng.integers(0, 256, (400, 300), dtype=np.uint8)) for _ in range(3)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path


def one_case(work: Path, complete: Path, pause: float, window: float, *,
             marker: bool) -> tuple[bool, float]:
    hot = HotFolder(work / f"hot-{complete.suffix[1:]}-{pause}-{window}-{marker}")
    hot.ensure()
    target = hot.root / f"scan{complete.suffix}"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(complete),
                               str(pause), "marker" if marker else "plain"])
    try:
        while True:
            fresh = settled_files(hot.root, settle_seconds=window, require_marker=marker)
            if fresh and (claim := hot.claim(fresh)) is not None:
                info = (claim.path / target.name).stat()
                since = time.time() - info.st_mtime_ns / 1e9
                whole = info.st_size == complete.stat().st_size
                writer.wait()
                claim.release()
                return whole, since
            time.sleep(0.25)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/hot_folder_settle.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pdf, tiff = make_scan(work / "complete.pdf"), make_scan(work / "complete.tif")
        cases = [(pdf, p, 2.0, False) for p in (1, 3, 5)]
        cases += [(pdf, p, SETTLE_SECONDS, False) for p in (1, 3, 5, 9, 15)]
        cases += [(tiff, p, SETTLE_SECONDS, False) for p in (1, 5)]
        cases += [(pdf, 15, SETTLE_SECONDS, True)]  # with require_marker
        for complete, pause, window, marker in cases:
            whole, since = one_case(work, complete, pause, window, marker=marker)
            rule = (f"{window:.0f} s" if window == 2.0 else f"{window:.0f} s (default), "
                    f"{WHOLE_SETTLE_SECONDS:.0f} s if it ends whole") + \
                (", --require-marker, .done written" if marker else "")
            rows.append(f"| {complete.suffix[1:].upper()} | {pause:.0f} s | {rule} "
                        f"| {'whole' if whole else 'HALF-WRITTEN'} | {since:.1f} s |")
            print(rows[-1], flush=True)  # noqa: T201 - a benchmark's progress
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Hot folder vs slow writers\n\n"
        "`bench/hot_folder_settle_bench.py`: a writer process writes a 3-page PDF (or TIFF) "
        "into the hot folder in three parts with a pause between them; the intake keeps looking "
        "(two looks 2 s apart, as the flow does) and claims what `settled_files` returns. A "
        "file that ends as a whole file of its kind (`intake.hot_folder.ends_whole`: a PDF's "
        "%%EOF, a JPEG's end-of-image, a PNG's IEND) needs only the two looks; a file cut off "
        "in a pause does not, and a TIFF's end says nothing, so both wait the window.\n\n"
        "| file | writer pauses | settle rule | claimed file | taken after the last write |\n"
        "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "A writer that pauses longer than the window must write a completion marker "
        "(`<name>.done` / `<name>.ready`, after the file) and its folder be set to "
        "`letterbridge worker --require-marker`: then nothing unmarked is taken and a marked "
        "file is taken at once, whatever the pauses. (Without --require-marker a marker only "
        "makes a file go sooner; it cannot stop the window.)\n")


if __name__ == "__main__":
    main()
