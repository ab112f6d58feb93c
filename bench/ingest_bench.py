"""Whole-journey throughput: `letterbridge ingest` against plain `tesseract` on the same pages.

Run: .venv/bin/python -m bench.ingest_bench [--letters 8]

In one run, on the same generated scans:
1. plain `tesseract` CLI over every page image (PNG), two processes at a time (both cores);
2. `letterbridge ingest` of the same letters as a client of a running Prefect server
   (store, rasterise, split, preprocess, OCR, route, find PII, burn, verify, decide, PDFs);
3. `letterbridge ingest` of one letter with no server running (Prefect starts a temporary one).
Writes bench/results/ingest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import cv2

HERE = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent


def make_batch(folder: Path, letters: int, seed: int) -> tuple[list[Path], list[Path], dict]:
    from letterbridge.samples import make_letter, make_roster, write_letter

    roster = make_roster(max(6, letters), seed=seed)
    csvs = roster.write_csvs(folder / "roster")
    matched = {number for number, _ in roster.matches}
    senders = [p for p in roster.inmates if p.inmate_number in matched]
    scans, pngs = [], []
    for n in range(letters):
        letter = make_letter(senders[n % len(senders)], seed=seed + n, style="typed",
                             n_pages=1 + n % 3, degrade="scan")
        scans.append(write_letter(letter, folder / "scans" / f"scan-{n:03d}.tiff", fmt="tiff"))
        for i, page in enumerate(letter.pages, start=1):
            png = folder / "pages" / f"scan-{n:03d}-{i}.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(png), page)
            pngs.append(png)
    return scans, pngs, csvs


def plain_tesseract(pngs: list[Path], languages: str, workers: int = 2) -> float:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(path: Path) -> None:
        subprocess.run(["tesseract", str(path), "-", "-l", languages, "--dpi", "300"],
                       env=env, check=True, capture_output=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, pngs))
    return time.perf_counter() - start


def our_ocr(pngs: list[Path], workers: int = 2) -> float:
    """Our OCR stage alone, in-process, read as ingest reads each page (`letters.pages`):
    decode PNG, preprocess, Tesseract with the settings' languages; an envelope by
    `read_envelope` (Tesseract alone: routing asks PP-OCR again only when the roster does not
    confirm it), a letter page by `read_page` with the settings' engine rule; 2 threads."""
    from config.settings import get_settings
    from ocr.engines import EngineRule
    from ocr.envelope import looks_like_envelope, read_envelope
    from ocr.pipeline import read_page

    settings = get_settings()
    languages = settings.ocr_languages
    rule = EngineRule.from_settings(settings)

    def one(path: Path) -> None:
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if looks_like_envelope(img):
            read_envelope(img, languages=languages)
        else:
            read_page(img, languages=languages, rule=rule)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, pngs))
    return time.perf_counter() - start


def cleaned_pages(pngs: list[Path], folder: Path) -> list[Path]:
    """Our preprocessed images of the same pages (what our Tesseract reads), as PNG files."""
    from ocr.preprocess import prepare

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in pngs:
        prepared = prepare(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), osd=False)
        out.append(folder / path.name)
        cv2.imwrite(str(out[-1]), prepared.ocr_image)
    return out


STEPS = ["register", "rasterise", "split", "ocr", "route", "redact", "verify", "decide", "notify"]
FLOW_TASKS = ["ocr", "route", "redact", "verify", "decide", "notify"]  # the mail-item flow's tasks


def step_breakdown(folder: Path, csvs: dict, scans: list[Path]) -> dict[str, dict[str, float]]:
    """Each step of the pipeline, in one process, one thing at a time, without Prefect:
    seconds and CPU seconds per step over the whole batch (where the time goes)."""
    env = {**os.environ, "LETTERBRIDGE_HOME": str(folder), "OMP_THREAD_LIMIT": "1"}
    lb = str(VENV_BIN / "letterbridge")
    subprocess.run([lb, "roster", "import", *[a for k, p in csvs.items()
                                                for a in (f"--{k}", str(p))]],
                   env=env, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "bench.ingest_bench", "--time-steps",
                          *map(str, scans)], env=env, cwd=HERE.parent, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_seconds() -> float:
    """CPU of this process and of the children it waited for (Tesseract runs as a child,
    PP-OCR in this process): on a shared machine CPU compares where wall time does not."""
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_steps(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Runs in the child process of step_breakdown, with its LETTERBRIDGE_HOME."""
    from intake.sources import register_source
    from letters.intake import rasterise_source, split_source
    from letters.notifications import notify
    from letters.pages import item_page_ids, ocr_page
    from letters.redaction import find_redactions, verify_page
    from letters.release import decide
    from letters.routing import route_item

    spent = dict.fromkeys(STEPS, 0.0)
    cpu = dict.fromkeys(STEPS, 0.0)
    calls = dict.fromkeys(STEPS, 0)

    def timed(name: str, fn, *args):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        out = fn(*args)
        spent[name] += time.perf_counter() - start
        cpu[name] += cpu_seconds() - start_cpu
        calls[name] += 1
        return out

    sources = [timed("register", register_source, path).source_id for path in paths]
    for source_id in sources:
        timed("rasterise", rasterise_source, source_id)
    items = [i for source_id in sources for i in timed("split", split_source, source_id)]
    for item_id in items:
        for page_id in item_page_ids(item_id):
            timed("ocr", ocr_page, page_id)
    for item_id in items:
        timed("route", route_item, item_id)
        for page_id in timed("redact", find_redactions, item_id):
            timed("verify", verify_page, page_id)
        timed("decide", decide, item_id)
        timed("notify", notify, item_id)
    # flows/mail_item.py makes one task run per call of these (ocr-page and verify-page per page).
    task_runs = {name: calls[name] for name in FLOW_TASKS}
    return {"seconds": spent, "cpu": cpu, "letters": len(items), "task_runs": task_runs}


def steps_table(steps: dict, pages: int) -> list[str]:
    spent, cpu, letters, runs = steps["seconds"], steps["cpu"], steps["letters"], steps["task_runs"]
    return [
        f"{letters} letters, {pages} page images (envelopes included).",
        "",
        "| step | seconds | CPU s | CPU share | CPU s per letter |",
        "|---|---:|---:|---:|---:|",
        *[f"| {name} | {spent[name]:.1f} | {cpu[name]:.1f} | {cpu[name] / sum(cpu.values()):.0%} "
          f"| {cpu[name] / letters:.2f} |" for name in STEPS],
        f"| **OCR stage (ocr + route: an envelope's second reading happens in route)** | "
        f"{spent['ocr'] + spent['route']:.1f} | {cpu['ocr'] + cpu['route']:.1f} | | "
        f"**{(cpu['ocr'] + cpu['route']) / letters:.2f}** |",
        f"| **all steps** | {sum(spent.values()):.1f} | {sum(cpu.values()):.1f} | | "
        f"{sum(cpu.values()) / letters:.2f} |",
        "",
        f"Prefect task runs the mail-item flow makes for them: {sum(runs.values())} "
        f"({sum(runs.values()) / letters:.1f} a letter, {sum(runs.values()) / pages:.1f} a page: "
        + ", ".join(f"{name} {n}" for name, n in runs.items()) + ").",
    ]


def start_prefect(home: Path) -> tuple[subprocess.Popen, str]:
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api"
    for _ in range(240):
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return proc, api
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("prefect server did not start")


def run_ingest(home: Path, csvs: dict, scans: list[Path], api: str | None) -> float:
    env = {**os.environ, "LETTERBRIDGE_HOME": str(home), "OMP_THREAD_LIMIT": "1",
           "PREFECT_HOME": str(home / "prefect")}
    if api:
        env["PREFECT_API_URL"] = api
    else:  # Prefect's temporary server in the command (bench/start_bench.py: the shared one)
        env.pop("PREFECT_API_URL", None)
        env["LETTERBRIDGE_PREFECT_LOCAL_SERVER"] = "false"
    lb = str(VENV_BIN / "letterbridge")
    subprocess.run([lb, "roster", "import", *[a for k, p in csvs.items()
                                                for a in (f"--{k}", str(p))]],
                   env=env, check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([lb, "ingest", *map(str, scans)], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=8)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--steps-only", action="store_true",
                        help="only the per-step breakdown (seconds and CPU), printed, no file")
    parser.add_argument("--time-steps", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_steps:
        print(json.dumps(time_steps(args.time_steps)))  # noqa: T201
        return 0
    work = Path(tempfile.mkdtemp(prefix="lb-ingest-bench-"))
    try:
        scans, pngs, csvs = make_batch(work, args.letters, args.seed)
        pages = len(pngs)
        if args.steps_only:
            print("\n".join(steps_table(step_breakdown(work / "home-steps", csvs, scans),  # noqa: T201
                                        pages)))
            return 0
        t_eng = plain_tesseract(pngs, "eng")
        t_engspa = plain_tesseract(pngs, "eng+spa")
        t_ours_ocr = our_ocr(pngs)
        t_clean = plain_tesseract(cleaned_pages(pngs, work / "clean"), "eng+spa")
        steps = step_breakdown(work / "home-steps", csvs, scans)
        from flows.runtime import end_process

        proc, api = start_prefect(work / "prefect-server")
        try:
            t_ingest = run_ingest(work / "home-server", csvs, scans, api)
        finally:
            end_process(proc, timeout=20)
        t_one_cold = run_ingest(work / "home-cold", csvs, scans[:1], None)
        # The same home again: Prefect's temporary server finds its database in place.
        t_one_warm = run_ingest(work / "home-cold", csvs, scans[2:3], None)
        one_pages = 1  # the first letter has 1 page + its envelope
        ppm = lambda seconds: pages * 60 / seconds  # noqa: E731
        lines = [
            "## Whole ingest against plain Tesseract (`bench/ingest_bench.py`)",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, "
            f"{os.cpu_count()} cores; {args.letters} generated typed letters, {pages} page images "
            "(envelopes included), scan-degraded, given to ingest as multi-page TIFFs; "
            "both sides keep both cores busy (`OMP_THREAD_LIMIT=1`, 2 at a time).",
            "",
            "| run | seconds | pages/min | vs plain `-l eng+spa` |",
            "|---|---:|---:|---:|",
            f"| plain `tesseract -l eng` on PNG pages | {t_eng:.1f} | {ppm(t_eng):.1f} | "
            f"{t_engspa / t_eng:.2f}× |",
            f"| plain `tesseract -l eng+spa` on PNG pages | {t_engspa:.1f} | {ppm(t_engspa):.1f} "
            "| 1.00× |",
            f"| plain `tesseract -l eng+spa` on our preprocessed pages (PNG) | {t_clean:.1f} | "
            f"{ppm(t_clean):.1f} | {t_engspa / t_clean:.2f}× |",
            f"| our OCR stage alone, each page read as ingest reads it (preprocess + Tesseract), "
            "2 threads | "
            f"{t_ours_ocr:.1f} | {ppm(t_ours_ocr):.1f} | {t_engspa / t_ours_ocr:.2f}× |",
            f"| `letterbridge ingest`, running Prefect server | {t_ingest:.1f} | "
            f"{ppm(t_ingest):.1f} | {t_engspa / t_ingest:.2f}× |",
            "",
            f"`letterbridge ingest` of one letter ({one_pages + 1} pages) with no server running "
            f"(Prefect starts its temporary server): {t_one_cold:.1f} s on a new "
            f"`LETTERBRIDGE_HOME`, {t_one_warm:.1f} s for the next letter (4 pages) in the same "
            "home, where the temporary server's database already exists. The server a data "
            "folder's commands now share instead: `bench/results/start.md`.",
            "",
            "Ingest does more than OCR: rasterising, preprocessing, envelope reading, roster "
            "matching, PII finding, burning, re-OCR of the bands around burned boxes "
            "(verification), and two PDFs per letter.",
            "",
            "Where the time goes: each step run in one process, one page or letter at a time, "
            "without Prefect (CPU: this process and the engines it ran):",
            "",
            *steps_table(steps, pages),
            f"| plain `tesseract -l eng+spa`, one at a time (estimate: 2 × its 2-process time) | "
            f"{2 * t_engspa:.1f} | | | |",
        ]
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "ingest.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))  # noqa: T201
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
