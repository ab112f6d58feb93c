"""Run every benchmark (small defaults, 2-core friendly) and merge the figures into bench/RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
ORDER = ["ocr", "handwriting", "handwriting_pii", "tesseract_wrapper", "ingest", "start", "routing",
         "redaction", "handwritten_mail", "typed_mail", "pii_formats", "ui", "admin", "penpal_images", "ops",
         "hot_folder_settle", "recovery", "odd_files"]
MODULES = {name: f"bench.{name}_bench" for name in ORDER}
# Sections measured before the changes of 2026-12-01 and not measured again since: what changed
# that they do not show.
NOT_REMEASURED = [
    "**Not measured again after this round's changes** (their figures describe the code "
    "before them): *OCR* (2026-11-22: Tesseract alone; pages it cannot vouch for are now read "
    "again by PP-OCR, see *Handwriting*), *ops* (2026-11-27: before "
    "sessions, the outbox and the second engine).",
    "",
]


def merge() -> Path:
    parts = [
        "# Benchmark results",
        "",
        f"Merged {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'} "
        f"({platform.machine()}, {_cores()} cores, Python {platform.python_version()}). "
        "Each section says when it was measured; `make bench` measures them all again.",
        "",
        *NOT_REMEASURED,
    ]
    for name in ORDER:
        path = HERE / "results" / f"{name}.md"
        if path.exists():
            parts += [path.read_text().strip(), ""]
    target = HERE / "RESULTS.md"
    target.write_text("\n".join(parts))
    return target


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=ORDER)
    parser.add_argument("--merge-only", action="store_true")
    args = parser.parse_args()
    failures = 0
    if not args.merge_only:
        for name in args.only or ORDER:
            module = MODULES[name]
            try:
                importlib.import_module(module)
            except ModuleNotFoundError:
                print(f"skip {name}: {module} not present")  # noqa: T201
                continue
            print(f"== {name}")  # noqa: T201
            failures += subprocess.call([sys.executable, "-m", module]) != 0
    print(f"wrote {merge()}")  # noqa: T201
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
