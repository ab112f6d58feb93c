"""The admin's roster pages and the session check under a realistic database: p95 server time.

    .venv/bin/python -m bench.admin_bench                  # 10,000 letters, 100 requests per view
    .venv/bin/python -m bench.admin_bench --letters 20000 --inmates 20000

The world is bench/ui_bench.py's (10,000 letters, 60,000 audit events, 200 volunteers), with
the roster grown to `--inmates` people so the waiting list has thousands of writers without a
pen pal. Times are the app's own `Server-Timing` header. Figures go to bench/results/admin.md;
the exit status is 1 when a p95 is 100 ms or more.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ui_bench import login, measure, populate

RESULTS = Path(__file__).parent / "results" / "admin.md"
TARGET_MS = 100.0


def grow_roster(inmates: int, seed: int = 3) -> int:
    """More people, most without a pen pal, joined over the last two years; returns the count."""
    from sqlalchemy import func, insert, select

    from storage.db import session_scope
    from storage.models import Inmate

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    with session_scope() as s:
        have = s.scalar(select(func.count()).select_from(Inmate)) or 0
        start = (s.scalar(select(func.max(Inmate.id))) or 0) + 1
        joined = [now - timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
                  for _ in range(max(0, inmates - have))]
        rows = [
            {
                "id": start + n,
                "inmate_number": f"9{n:08d}",
                "number_key": f"9{n:08d}",
                "name": f"Waiting Writer {n}",
                "facility_id": rng.randrange(1, 21),
                "created_at": when,
                "waiting_since": when,  # never matched: waiting since they joined
            }
            for n, when in enumerate(joined)
        ]
        if rows:
            s.execute(insert(Inmate), rows)
        return have + len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--letters", type=int, default=10_000)
    parser.add_argument("--inmates", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lb-admin-bench-"))
    os.environ["LETTERBRIDGE_HOME"] = str(home)
    os.environ.pop("LETTERBRIDGE_DATABASE_URL", None)
    os.environ["LETTERBRIDGE_BLOB_BACKEND"] = "local"
    os.environ.pop("PREFECT_API_URL", None)
    from config.settings import reset_settings

    reset_settings()
    from sqlalchemy import func, select

    from review_ui.app import create_app
    from review_ui.queries import waiting_list
    from storage.db import migrate, session_scope
    from storage.models import Inmate, UserSession

    migrate()
    started = time.perf_counter()
    world = populate(args.letters)
    people = grow_roster(args.inmates)
    fill_seconds = time.perf_counter() - started
    with session_scope() as s:
        _rows, waiting = waiting_list(s, 1, 0)
        some_inmates = list(s.scalars(select(Inmate.id).limit(200)))
    app = create_app()
    admin = login(app, "admin@example.org")
    penpal = login(app, "v0@example.org")

    rng = random.Random(2)
    n = args.requests
    day = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    last_page = max(1, waiting // 50)
    views = {
        "roster `/admin/roster` (first page, a later page, a search)": [
            rng.choice(["/admin/roster", "/admin/roster?page=20", "/admin/roster?q=Writer 12"])
            for _ in range(n)
        ],
        "a person `/admin/inmates/{id}`": [
            f"/admin/inmates/{rng.choice(some_inmates)}" for _ in range(n)
        ],
        "waiting list `/admin/waiting` (first and last pages)": [
            rng.choice(["/admin/waiting", f"/admin/waiting?page={last_page}"]) for _ in range(n)
        ],
        "waiting list for one writer `/admin/waiting?inmate=&item=`": [
            f"/admin/waiting?inmate={rng.choice(some_inmates)}&item={rng.choice(world['queue_items'])}"
            for _ in range(n)
        ],
        "volunteers `/admin/volunteers`": ["/admin/volunteers"] * n,
        "facilities `/admin/facilities`": ["/admin/facilities"] * n,
        "users `/admin/users`": ["/admin/users"] * n,
        "audit log for one day `/admin/audit?date_from=&date_to=`": [
            f"/admin/audit?date_from={day}&date_to={day}" for _ in range(n)
        ],
    }
    for paths in views.values():  # warm caches and templates
        admin.get(paths[0])
    results = {name: measure(admin, paths) for name, paths in views.items()}
    # The session check every request makes: the pen pal's inbox, as ui_bench measures it.
    results["pen pal inbox `/inbox` (session looked up in the table)"] = measure(
        penpal, ["/inbox"] * n
    )
    with session_scope() as s:
        sessions = s.scalar(select(func.count()).select_from(UserSession))

    failed = [name for name, r in results.items() if r["p95"] >= TARGET_MS]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    lines = [
        "## Admin roster pages and sessions (`bench/admin_bench.py`)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work (load average {load:.1f} when it "
        f"finished), SQLite. Database: bench/ui_bench.py's world ("
        + ", ".join(f"{v:,} {k}" for k, v in world["counts"].items())
        + f") with the roster grown to {people:,} people, {waiting:,} of them waiting for a "
        f"pen pal (fill {fill_seconds:.1f} s); {sessions} session rows. Server-side time is "
        "the app's own `Server-Timing` header, per request.",
        "",
        f"Target: p95 of every view under {TARGET_MS:.0f} ms — "
        + ("**met**." if not failed else f"**missed** by {', '.join(failed)}."),
        "",
        "| view | requests | p50 ms | p95 ms | max ms | p95 wall ms (client) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} | "
            f"{r['wall_p95']:.1f} |"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
