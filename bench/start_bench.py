"""Time to a one-letter `letterbridge ingest` on a fresh data folder: Prefect's temporary server
in every command, against the data folder's own server that the first command starts and the
next ones reuse (flows/runtime.py), with its database new or copied from the template
(`python -m flows.runtime`). Writes bench/results/start.md."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from flows.runtime import build_template, template_path
from letterbridge.samples import make_letter, make_roster, write_letter

HERE = Path(__file__).parent
LB = str(Path(sys.executable).with_name("letterbridge"))


def _env(home: Path, *, local_server: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(LETTERBRIDGE_HOME=str(home), OMP_THREAD_LIMIT="1",
               LETTERBRIDGE_PREFECT_LOCAL_SERVER=str(local_server).lower())
    return env


def _ingest(home: Path, scan: Path, *, local_server: bool) -> float:
    started = time.perf_counter()
    subprocess.run([LB, "ingest", str(scan)], env=_env(home, local_server=local_server),
                   check=True, capture_output=True)
    return time.perf_counter() - started


def _set_up(home: Path, csvs: dict) -> tuple[float, float]:
    """`letterbridge init` then `roster import`, as the README and `make demo` begin: the
    seconds of each."""
    env = _env(home, local_server=True)
    started = time.perf_counter()
    subprocess.run([LB, "init"], env=env, check=True, capture_output=True)
    init = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([LB, "roster", "import", *[a for k, p in csvs.items()
                                               for a in (f"--{k}", str(p))]],
                   env=env, check=True, capture_output=True)
    return init, time.perf_counter() - started


@contextlib.contextmanager
def _no_template():
    """The template out of the way (a server that finds none leaves one: it is removed)."""
    template = template_path()
    aside = template.with_name(template.name + ".aside")
    if template.exists():
        template.replace(aside)
    try:
        yield
    finally:
        template.unlink(missing_ok=True)
        if aside.exists():
            aside.replace(template)


# (server, database): Prefect's temporary server in every command, or the data folder's own;
# its database new, or copied from the template.
ROWS = [("temporary", "new"), ("temporary", "template"), ("own", "new"), ("own", "template")]
NAMES = {"temporary": "temporary, in every command", "own": "the data folder's own (started "
         "once, reused)", "new": "a new database", "template": "copied from the template"}


def main() -> None:
    build_template()
    roster = make_roster(4, seed=5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scans = [write_letter(make_letter(roster.inmates[n], seed=70 + n, style="typed",
                                          n_pages=1), root / f"scan-{n}.pdf") for n in range(2)]
        for server, database in ROWS:
            home = root / f"home-{server}-{database}"
            local = server == "own"
            with _no_template() if database == "new" else contextlib.nullcontext():
                first = _ingest(home, scans[0], local_server=local)
                second = _ingest(home, scans[1], local_server=local)
                if local:
                    env = {**os.environ, "LETTERBRIDGE_HOME": str(home)}
                    subprocess.run([LB, "prefect-server", "--stop"], env=env, check=False,
                                   capture_output=True)
            rows.append((server, database, first, second))
        # As a program begins (the README, `make demo`): init (which starts the folder's server
        # in the background), the roster, then the first letter.
        home = root / "home-init"
        init, roster_import = _set_up(home, roster.write_csvs(root / "roster"))
        set_up_first = _ingest(home, scans[0], local_server=True)
        set_up_second = _ingest(home, scans[1], local_server=True)
        subprocess.run([LB, "prefect-server", "--stop"], env=_env(home, local_server=True),
                       check=False, capture_output=True)
    load = os.getloadavg()[0]
    lines = [
        "# Starting up: a one-letter ingest on a fresh data folder",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average at start {load:.1f} "
        "(2 cores, shared). Command: `.venv/bin/python -m bench.start_bench`. Each row: a fresh "
        "`LETTERBRIDGE_HOME`, `letterbridge ingest` of one typed one-page letter (envelope + "
        "page), then of a second letter; wall time of the whole command, no PREFECT_API_URL.",
        "",
        "| Prefect server | its database | first ingest | second ingest |",
        "|---|---|---|---|",
    ]
    for server, database, first, second in rows:
        lines.append(f"| {NAMES[server]} | {NAMES[database]} | {first:.1f} s | {second:.1f} s |")
    lines += [
        f"| the data folder's own, started by `letterbridge init` ({init:.1f} s) before "
        f"`roster import` ({roster_import:.1f} s) | copied from the template | "
        f"{set_up_first:.1f} s | {set_up_second:.1f} s |",
    ]
    (HERE / "results" / "start.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))  # noqa: T201 - a benchmark reports


if __name__ == "__main__":
    main()
