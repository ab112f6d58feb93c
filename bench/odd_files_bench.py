"""Peak memory of one worker over the odd-file set: each file ingested by its own
`letterbridge ingest` process, then the whole set by one, as shipped (both OCR engines on).

The set is generated (`letterbridge.samples.make_bad_inputs` and `make_odd_files`): empty,
truncated, encrypted, a 20000×20000 PNG, text named .pdf, a 100-inch MediaBox behind a
Letter CropBox, a 60-inch page, trailing bytes after %%EOF, a HEIC photo, a JPEG named .pdf,
six 11×17-inch pages at 300 DPI. The peak is the largest resident set of the ingest process
and of every process it waited for (pdftoppm, tesseract), from `wait4`'s rusage: what one
worker needs. One shared Prefect server for the data folder (started by the first command,
stopped at the end) is not counted: it is not a worker.

    .venv/bin/python bench/odd_files_bench.py [--out bench/results/odd_files.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BIN = Path(sys.executable).parent
LIMIT_MB = 1024
BEFORE = ("Before ocr/memory.py (glibc keeping freed page buffers in its heap), same files, "
          "2026-12-01: two Letter pages 884–895 MB, six 11×17 pages 1073 MB, all at once 1264 MB.")


def run_measured(args: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """Run a command; return (exit code, peak RSS MB of it and its waited-for children, wall s,
    output)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return proc.returncode, usage.ru_maxrss / 1024, time.monotonic() - start, text


def outcomes(env: dict[str, str]) -> dict[str, str]:
    """{file name: "read: N letter(s)" or "quarantined: code"} from the data folder's database."""
    script = (
        "import json\n"
        "from sqlalchemy import select\n"
        "from storage.db import session_scope\n"
        "from storage.models import MailItem, SourceFile\n"
        "out = {}\n"
        "with session_scope() as s:\n"
        "    for src in s.scalars(select(SourceFile)):\n"
        "        items = s.scalars(select(MailItem).where(MailItem.source_id == src.id)).all()\n"
        "        q = [i for i in items if i.status == 'quarantined']\n"
        "        whole = q and len(q) == len(items)\n"
        "        out[src.filename] = (f'quarantined: {q[0].quarantine_reason[:70]}' if whole\n"
        "                             else f'read: {len(items)} letter(s), {src.page_count} page(s)')\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([str(BIN / "python"), "-c", script], env=env, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "odd_files.md")
    args = parser.parse_args()
    from letterbridge.samples import make_bad_inputs, make_odd_files

    work = Path(tempfile.mkdtemp(prefix="lb-odd-"))
    files = work / "files"
    expected = {**make_bad_inputs(files), **make_odd_files(files)}
    rows = []
    for mode in ("each", "all"):
        home = work / f"home-{mode}"
        env = {**os.environ, "LETTERBRIDGE_HOME": str(home), "OMP_THREAD_LIMIT": "1",
               "LETTERBRIDGE_OCR_SECOND_ENGINE": "true"}
        env.pop("PREFECT_API_URL", None)
        subprocess.run([str(BIN / "letterbridge"), "init"], env=env, check=True,
                       capture_output=True)
        try:
            targets = [[files / name] for name in sorted(expected)] if mode == "each" else [[files]]
            for paths in targets:
                code, peak, wall, text = run_measured(
                    [str(BIN / "letterbridge"), "ingest", *map(str, paths)], env)
                name = paths[0].name if mode == "each" else f"all {len(expected)} files at once"
                rows.append({"file": name, "exit": code, "peak_mb": round(peak),
                             "wall_s": round(wall, 1), "traceback": "Traceback" in text})
                print(f"{name}: exit {code}, peak {peak:.0f} MB, {wall:.1f} s",  # noqa: T201 - progress
                      flush=True)
            if mode == "each":
                seen = outcomes(env)
                for row in rows:
                    row["outcome"] = seen.get(row["file"], "not registered")
                    row["expected"] = expected[row["file"]]
        finally:
            subprocess.run([str(BIN / "letterbridge"), "prefect-server", "--stop"], env=env,
                           capture_output=True)
    write(args.out, rows)


def write(out: Path, rows: list[dict]) -> None:
    peak = max(r["peak_mb"] for r in rows)
    lines = [
        "## Odd files: peak memory of one worker",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/odd_files_bench.py`: each generated "
        "odd file ingested by its own `letterbridge ingest`, then all of them by one; peak = the "
        "largest resident set of the ingest process and the processes it waited for (pdftoppm, "
        "tesseract), from `wait4`. Both OCR engines on, as shipped. Limit: "
        f"{LIMIT_MB} MB per worker.",
        "",
        f"**Largest peak: {peak} MB** ({'within' if peak <= LIMIT_MB else 'over'} the limit); "
        f"no command ended with a traceback: {not any(r['traceback'] for r in rows)}.",
        "",
        BEFORE,
        "",
        "| file | expected | outcome | exit | peak MB | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['file']} | {r.get('expected', '')} | {r.get('outcome', '')} | "
                     f"{r['exit']} | {r['peak_mb']} | {r['wall_s']} |")
    out.write_text("\n".join(lines) + "\n")
    (out.with_suffix(".json")).write_text(json.dumps(rows, indent=1))
    print(out.read_text())  # noqa: T201 - the benchmark's report


if __name__ == "__main__":
    main()
