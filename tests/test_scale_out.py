"""Scale out: one stream of letters through a Prefect work pool served by two workers that share
the database (PostgreSQL when LETTERBRIDGE_TEST_DATABASE_URL is set) and S3 (moto's server)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect_http import prefect_http
from sqlalchemy import create_engine, func, select, text
from test_intake import import_roster, write_letters

from storage.db import session_scope
from storage.models import AuditEvent, ItemStatus, MailItem, SourceFile

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.prefect]


@pytest.fixture
def shared_db(lb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The database every worker uses: a fresh PostgreSQL schema, or this test's SQLite file."""
    from config.settings import get_settings, reset_settings
    from storage import db

    base = os.environ.get("LETTERBRIDGE_TEST_DATABASE_URL")
    if not base:
        yield get_settings().effective_database_url
        return
    base = db._normalise_url(base)
    schema = f"lb_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    monkeypatch.setenv("LETTERBRIDGE_DATABASE_URL", url)
    reset_settings()
    db.dispose_engines()
    db.migrate()
    try:
        yield url
    finally:
        db.dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def shared_s3(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from config.settings import reset_settings
    from storage import blobs

    bucket = f"lb-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LETTERBRIDGE_BLOB_BACKEND", "s3")
    monkeypatch.setenv("LETTERBRIDGE_S3_BUCKET", bucket)
    monkeypatch.setenv("LETTERBRIDGE_S3_ENDPOINT_URL", moto_server)
    reset_settings()
    blobs._stores.clear()
    blobs.get_blob_store()  # creates the bucket
    return bucket


def start_worker(pool: str, home: Path, db_url: str, log: Path) -> subprocess.Popen:
    """`prefect worker start` as an admin would run it on another machine, its own data folder."""
    home.mkdir(parents=True)
    env = {**os.environ, "LETTERBRIDGE_HOME": str(home), "LETTERBRIDGE_DATABASE_URL": db_url,
           "LETTERBRIDGE_OCR_WORKERS": "1",
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
           "PREFECT_LOGGING_LEVEL": "INFO"}  # the worker's log says which runs it took
    return subprocess.Popen(
        [str(VENV_BIN / "prefect"), "worker", "start", "--pool", pool, "--limit", "1",
         "--name", home.name],
        cwd=home, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)


def stop_worker(proc: subprocess.Popen) -> None:
    """Workers may sit on SIGTERM for a long time: wait, then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def wait_for_workers(api: str, pool: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = prefect_http.post(f"{api}/work_pools/{pool}/workers/filter", json={}).json()
        if isinstance(workers, list) and len(workers) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"{count} workers did not join pool {pool}")


def finished_runs(api: str, pool: str, count: int, timeout: float = 60) -> list[dict]:
    """The pool's `process-sources` runs once `count` of them have ended (or as they are at
    `timeout`)."""
    deployment = prefect_http.get(f"{api}/deployments/name/process-sources/{pool}").json()
    query = {"deployments": {"id": {"any_": [deployment["id"]]}}}
    deadline = time.monotonic() + timeout
    while True:
        runs = prefect_http.post(f"{api}/flow_runs/filter", json=query).json()
        ended = [r for r in runs if r["state_type"] in {"COMPLETED", "FAILED", "CRASHED",
                                                         "CANCELLED"}]
        if len(ended) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def runs_taken(worker_log: str) -> set[str]:
    """Flow runs a worker started. Two workers may both try one run; the server lets one
    through and tells the other to abort ("cannot transition to a PENDING state")."""
    tried = set(re.findall(r"submitting flow run '([0-9a-f-]{36})'", worker_log))
    aborted = set(re.findall(r"Aborted submission of flow run '([0-9a-f-]{36})'", worker_log))
    return tried - aborted


def letterbridge(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    result = subprocess.run([str(VENV_BIN / "letterbridge"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_two_workers_share_one_stream_and_take_no_letter_twice(
        prefect_api: str, shared_db: str, shared_s3: str, tmp_path: Path) -> None:
    """GIVEN a process work pool with `process-sources` deployed and two workers (each its own
    data folder, sharing the database and S3) WHEN four letters are submitted as one stream
    THEN both workers take part, each flow run ran on exactly one worker, every letter exists
    once with its pages and one decision; WHEN the same files are submitted again THEN nothing
    new is queued."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 4, seed=300)
    pool = f"letters-{uuid.uuid4().hex[:6]}"
    result = letterbridge("pool", "deploy", "--pool", pool)
    assert f"process-sources/{pool}" in result.stdout

    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    workers = [start_worker(pool, tmp_path / f"worker-{n}", shared_db, log)
               for n, log in zip((1, 2), logs, strict=True)]
    try:
        wait_for_workers(prefect_api, pool, 2)
        result = letterbridge("pool", "submit", str(scans), "--pool", pool, "--wait",
                              "--timeout", "900")
        assert "4 queued in 4 flow run(s)" in result.stdout
        assert "all 4 processed" in result.stdout
        # A source is done a moment before its run reports its own end to Prefect: let the
        # runs say so before the workers stop.
        runs = finished_runs(prefect_api, pool, 4)
    finally:
        for proc in workers:
            stop_worker(proc)

    with session_scope() as session:
        assert set(session.scalars(select(SourceFile.status))) == {"done"}
        items = session.scalars(select(MailItem)).all()
        assert len(items) == 4 and len({i.source_id for i in items}) == 4
        assert all(i.status not in {ItemStatus.received, ItemStatus.processing} for i in items)
        assert all(len(i.pages) == 2 and all(p.words_key for p in i.pages) for i in items)
        for action in ("item_created", "decided"):
            per_item = dict(session.execute(
                select(AuditEvent.item_id, func.count()).where(AuditEvent.action == action)
                .group_by(AuditEvent.item_id)).all())
            assert per_item == {i.id: 1 for i in items}, action

    assert sorted(r["state_type"] for r in runs) == ["COMPLETED"] * 4
    # The pool also runs its notify-outbox (and recovery) deployments: count the letters' runs.
    letter_runs = {r["id"] for r in runs}
    ran_on = [runs_taken(log.read_text()) & letter_runs for log in logs]
    assert all(ran_on), "both workers took part"
    assert not ran_on[0] & ran_on[1], "no flow run ran on two workers"
    assert ran_on[0] | ran_on[1] == letter_runs

    result = letterbridge("pool", "submit", str(scans), "--pool", pool)
    assert "4 already processed, 0 queued" in result.stdout


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), children first found first."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_a_run_whose_worker_is_killed_is_marked_crashed_by_the_server(
        prefect_api: str, shared_db: str, shared_s3: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a pool deployed by `letterbridge pool deploy` (which installs the automation for
    silent runs, here with a 40 s window) and a worker whose runs beat every 30 s
    WHEN the worker and its flow-run process are killed with SIGKILL in the middle of a run
    THEN the Prefect server itself marks that run Crashed, saying why — no admin is left
    looking at a run that shows Running forever."""
    from flows.deployments import ZOMBIE_AUTOMATION

    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 2, seed=310)
    pool = f"letters-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("LETTERBRIDGE_SILENT_RUN_SECONDS", "40")
    letterbridge("pool", "deploy", "--pool", pool)
    automations = prefect_http.post(f"{prefect_api}/automations/filter", json={}).json()
    [automation] = [a for a in automations if a["name"] == ZOMBIE_AUTOMATION]
    assert automation["trigger"]["within"] == 40 and automation["trigger"]["posture"] == "Proactive"

    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")
    worker = start_worker(pool, tmp_path / "worker", shared_db, tmp_path / "worker.log")
    try:
        wait_for_workers(prefect_api, pool, 1)
        letterbridge("pool", "submit", str(scans), "--pool", pool, "--batch-size", "2")
        deployment = prefect_http.get(f"{prefect_api}/deployments/name/process-sources/{pool}").json()
        query = {"deployments": {"id": {"any_": [deployment["id"]]}}}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = prefect_http.post(f"{prefect_api}/flow_runs/filter", json=query).json()
            if runs and runs[0]["state_type"] == "RUNNING":
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no run started: {(tmp_path / 'worker.log').read_text()[-2000:]}")
        time.sleep(3)  # well inside the run: its first heartbeat has gone out
        for pid in [worker.pid, *_descendants(worker.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker.wait(timeout=30)
        killed_at = time.monotonic()
        run_id = runs[0]["id"]
        state = {}
        while time.monotonic() < killed_at + 150:
            state = prefect_http.get(f"{prefect_api}/flow_runs/{run_id}").json()
            if state["state_type"] != "RUNNING":
                break
            time.sleep(2)
    finally:
        stop_worker(worker)
        # The server is shared by the whole test session: a 40 s window must not outlive us.
        prefect_http.delete(f"{prefect_api}/automations/{automation['id']}")
    assert state["state_type"] == "CRASHED", state["state_type"]
    assert "No heartbeat for 40 s" in state["state"]["message"]
    assert time.monotonic() - killed_at >= 30  # not before the window ran out
