"""Fast, visible recovery: leases (not age) tell live work from a dead worker's; a stopped pool
worker hands its run back; what waits, retries or fails is listed with its reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from lease_holder import HOLD_LEASE
from prefect_http import prefect_http
from sqlalchemy import select
from test_intake import import_roster, write_letters
from test_scale_out import letterbridge, wait_for_workers

from intake.leases import (
    MAX_FAILED_RUNS,
    RECOVER_MIN_AGE_SECONDS,
    lease_sources,
    leased_source_ids,
    unfinished_report,
    unfinished_source_ids,
)
from storage.db import audit, session_scope
from storage.models import MailItem, SourceFile, utcnow

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def a_source(n: int, *, age: float, status: str = "received") -> str:
    with session_scope() as session:
        source = SourceFile(sha256=f"{n:064d}", filename=f"private-{n}.pdf", size=1,
                            blob_key=f"k{n}", status=status,
                            created_at=utcnow() - timedelta(seconds=age))
        session.add(source)
        session.flush()
        return source.id


def a_failed_letter(source_id: str, *, failures: int, age: float) -> str:
    with session_scope() as session:
        item = MailItem(source_id=source_id, status="needs_review", stage="routed",
                        review_reasons=["processing_failed"],
                        updated_at=utcnow() - timedelta(seconds=age))
        session.add(item)
        session.flush()
        for _ in range(failures):
            audit(session, "processing_failed", item_id=item.id, stage="routed")
        return item.id


def test_recovery_takes_an_orphan_after_a_minute_and_backs_off_failed_letters(
        lb_home: Path) -> None:
    """GIVEN files a worker left unfinished 90 s ago and 30 s ago, and letters whose run failed
    once 90 s ago, twice 90 s ago and twice 6 minutes ago
    WHEN recovery looks with its default minimum age THEN the 90 s file and the once-failed
    letter are due, the twice-failed one only after its 5-minute back-off; a file whose run
    waits in the pool's queue is left to that run."""
    assert RECOVER_MIN_AGE_SECONDS <= 60
    old, new = a_source(1, age=90), a_source(2, age=30)
    once = a_source(3, age=900, status="done")
    twice_recent = a_source(4, age=900, status="done")
    twice_old = a_source(5, age=900, status="done")
    a_failed_letter(once, failures=1, age=90)
    a_failed_letter(twice_recent, failures=2, age=90)
    a_failed_letter(twice_old, failures=2, age=360)

    due = unfinished_source_ids(min_age_seconds=RECOVER_MIN_AGE_SECONDS)
    assert set(due) == {old, once, twice_old} and new not in due
    assert unfinished_source_ids(min_age_seconds=RECOVER_MIN_AGE_SECONDS,
                                 exclude=[old]) == [s for s in due if s != old]


def test_leases_are_seen_without_being_taken(lb_home: Path) -> None:
    """GIVEN a process holding a source's lease WHEN the status report looks at the leases
    THEN that source shows as being processed and another does not; looking took nothing (the
    free one can still be leased); WHEN the holder is killed THEN it shows as free at once."""
    a, b = a_source(1, age=120), a_source(2, age=120)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LEASE, a], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().split() == [a]
        assert leased_source_ids([a, b]) == {a}
        with lease_sources([b]) as held:
            assert held == [b]
        report = unfinished_report()
        assert {r.source_id: r.reason for r in report.rows} == {
            a: "being processed now", b: "waiting for a worker (or recovery)"}
        assert (report.files_waiting, report.files_in_progress) == (2, 1)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert leased_source_ids([a, b]) == set()


def test_the_report_names_no_file_and_no_person(lb_home: Path) -> None:
    """GIVEN a file waiting and a letter that failed its last allowed run
    WHEN the report is made THEN rows carry ids, states and reasons only: no file name."""
    source = a_source(1, age=120)
    done = a_source(2, age=900, status="done")
    item = a_failed_letter(done, failures=MAX_FAILED_RUNS, age=60)
    report = unfinished_report()
    assert report.letters_given_up == 1 and report.letters_retrying == 0
    rows = {(r.source_id, r.item_id): r for r in report.rows}
    assert rows[(done, item)].reason == (f"processing failed {MAX_FAILED_RUNS} time(s); "
                                         "left for a person")
    assert rows[(source, "")].state == "file received"
    assert "private-" not in repr(report)



def test_a_letter_an_outage_interrupted_says_so_not_failed_zero_times(lb_home: Path) -> None:
    """GIVEN a letter whose run an outage stopped (audited processing_interrupted, which counts
    toward no limit) WHEN the report is made THEN its reason names the outage and that
    recovery retries it, not "processing failed 0 time(s)"."""
    source = a_source(1, age=900, status="done")
    item = a_failed_letter(source, failures=0, age=60)
    with session_scope() as session:
        audit(session, "processing_interrupted", item_id=item, stage="routed")
    [row] = [r for r in unfinished_report().rows if r.item_id == item]
    assert row.reason == "interrupted by an outage (storage or the database); recovery retries it"

# --- a real pool worker, stopped ------------------------------------------------------------


def start_pool_worker(pool: str, home: Path, log: Path) -> subprocess.Popen:
    """`letterbridge pool worker` as the README runs it, on this test's data folder."""
    env = {**os.environ, "LETTERBRIDGE_HOME": str(home), "LETTERBRIDGE_OCR_WORKERS": "1",
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO"}
    return subprocess.Popen(
        [str(VENV_BIN / "letterbridge"), "pool", "worker", "--pool", pool, "--name", "w1"],
        cwd=home, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)


@pytest.mark.slow
@pytest.mark.prefect
def test_a_pool_worker_stopped_with_sigterm_hands_its_run_back_at_once(
        prefect_api: str, lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a pool worker (`letterbridge pool worker`) in the middle of a letter
    WHEN it receives SIGTERM (what `systemctl stop` sends) THEN within seconds it has exited,
    the run is back in the pool's queue (AwaitingRetry: the next free worker takes it), its
    letter runs are not left Running, and the source's lease is free — no waiting for the
    batch to end or for a silent-run automation."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 1, seed=320)
    pool = f"letters-{uuid.uuid4().hex[:6]}"
    letterbridge("pool", "deploy", "--pool", pool)
    log = tmp_path / "worker.log"
    worker = start_pool_worker(pool, lb_home, log)
    try:
        wait_for_workers(prefect_api, pool, 1)
        letterbridge("pool", "submit", str(scans), "--pool", pool)
        with session_scope() as session:
            [source_id] = session.scalars(select(SourceFile.id)).all()
        deadline = time.monotonic() + 60
        while not leased_source_ids([source_id]):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        # Inside the batch: its ingest subflow has started (on a slow machine the lease is
        # taken well before that).
        deployment = prefect_http.get(f"{prefect_api}/deployments/name/process-sources/{pool}").json()
        [batch] = prefect_http.post(f"{prefect_api}/flow_runs/filter", json={
            "deployments": {"id": {"any_": [deployment["id"]]}}}).json()
        while not prefect_http.post(f"{prefect_api}/flow_runs/filter", json={
                "flow_runs": {"parent_flow_run_id": {"any_": [batch["id"]]}}}).json():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(0.5)
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=25)
        took = time.monotonic() - stopped_at
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert worker.returncode == 0 and took < 15, (took, log.read_text()[-3000:])
    assert leased_source_ids([source_id]) == set()
    deployment = prefect_http.get(f"{prefect_api}/deployments/name/process-sources/{pool}").json()
    [run] = prefect_http.post(f"{prefect_api}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [deployment["id"]]}}}).json()
    assert (run["state_type"], run["state_name"]) == ("SCHEDULED", "AwaitingRetry"), run["state"]
    children = prefect_http.post(f"{prefect_api}/flow_runs/filter", json={
        "flow_runs": {"parent_flow_run_id": {"any_": [run["id"]]}}}).json()
    assert [c["name"].split("-")[0] for c in children] == ["ingest"]
    assert children[0]["state_type"] == "CRASHED"
    letters = prefect_http.post(f"{prefect_api}/flow_runs/filter", json={
        "flow_runs": {"parent_flow_run_id": {"any_": [children[0]["id"]]}}}).json()
    assert all(r["state_type"] not in {"RUNNING", "PENDING"} for r in letters)
    with session_scope() as session:
        assert session.get(SourceFile, source_id).status != "done"


@pytest.mark.prefect
def test_recovery_marks_the_batch_run_of_a_dead_worker_crashed(prefect_api: str,
                                                                lb_home: Path) -> None:
    """GIVEN `process-sources` runs Prefect still shows Running: one for a source recovery now
    holds, one also naming a source someone else holds, one that has only just started
    WHEN recovery, holding the first source's lease, looks at them THEN only the first is
    marked Crashed (its worker is dead: a live one would hold the lease), saying why; the
    others are left alone."""
    from flows.recovery import crash_dead_batch_runs

    flow = prefect_http.post(f"{prefect_api}/flows/", json={"name": "process-sources"}).json()

    def running(sources: list[str]) -> str:
        return prefect_http.post(f"{prefect_api}/flow_runs/", json={
            "flow_id": flow["id"], "name": f"sources-test-{uuid.uuid4().hex[:6]}",
            "parameters": {"source_ids": sources},
            "state": {"type": "RUNNING", "name": "Running"}}).json()["id"]

    ours, other = f"src-{uuid.uuid4().hex[:8]}", f"src-{uuid.uuid4().hex[:8]}"
    dead, shared = running([ours]), running([ours, other])
    with lease_sources([ours]) as held:
        assert crash_dead_batch_runs(held) == 0  # both started under a minute ago
        assert crash_dead_batch_runs(held, started_before_seconds=0) == 1
    states = {run: prefect_http.get(f"{prefect_api}/flow_runs/{run}").json()["state"]
              for run in (dead, shared)}
    assert states[dead]["type"] == "CRASHED" and "recovery" in states[dead]["message"]
    assert states[shared]["type"] == "RUNNING"


def test_the_workers_recovery_sensor_starts_a_run_only_for_an_unleased_orphan(
        lb_home: Path) -> None:
    """GIVEN `letterbridge worker`'s recovery sensor WHEN nothing is unfinished, or the only
    unfinished source is leased by a live process THEN it sees no work (an idle or busy worker
    starts no recovery process a minute); WHEN that process dies THEN it sees work at once."""
    from flows.deployments import recovery_sensor

    has_work = recovery_sensor(60, RECOVER_MIN_AGE_SECONDS).has_work
    assert not has_work()
    source = a_source(1, age=120)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LEASE, source],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().split() == [source]
        assert not has_work()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert has_work()


def test_a_file_whose_runs_die_silently_is_quarantined_after_three_resumes(
        lb_home: Path) -> None:
    """GIVEN a stored file never split into letters WHEN recovery resumes it and each run ends
    without a word (its process died: killed, out of memory) THEN after three such resumes
    it is quarantined with a reason in words instead of killing a worker every minute; a
    run an outage stopped (`source_interrupted`) does not count; a split source is never
    given up here (its letters have their own limit)."""
    from letters.intake import MAX_SILENT_RESUMES, note_interrupted, resume_or_give_up

    dying, split = a_source(1, age=120), a_source(2, age=120, status="split")
    for n in range(MAX_SILENT_RESUMES):
        assert resume_or_give_up([dying, split]) == [dying, split], n
        if n == 0:
            note_interrupted(dying)  # that one was S3 going away, not the file
    assert resume_or_give_up([dying, split]) == [dying, split]
    assert resume_or_give_up([dying, split]) == [split]
    with session_scope() as session:
        source = session.get(SourceFile, dying)
        [item] = session.scalars(select(MailItem).where(MailItem.source_id == dying)).all()
        assert source.status == "quarantined" and item.status == "quarantined"
        assert item.review_reasons == ["processing_stopped"]
        assert f"stopped {MAX_SILENT_RESUMES} times" in item.quarantine_reason
        assert session.get(SourceFile, split).status == "split"
    assert dying not in unfinished_source_ids()
    from letters.mailroom import retry_quarantined
    from storage.blobs import get_blob_store

    get_blob_store().put("k1", b"%PDF-1.4 the original")
    with session_scope() as session:  # the mailroom takes it in again: a fresh start
        retry_quarantined(session, dying, actor="staff@example.org")
    assert resume_or_give_up([dying]) == [dying]


@pytest.mark.prefect
def test_recovery_gives_up_on_a_file_whose_runs_keep_dying(
        prefect_api: str, lb_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN an orphaned file whose every run dies before it is split (simulated: the ingest
    ends having done nothing, as a killed process leaves it) WHEN the recovery flow runs
    again and again THEN it resumes it three times, then quarantines it and stops."""
    import flows.recovery
    from letters.intake import MAX_SILENT_RESUMES

    ran: list[list[str]] = []

    class Dead:  # what a killed process leaves behind: nothing
        def is_completed(self) -> bool:
            return True

    monkeypatch.setattr(flows.recovery, "ingest_flow",
                        lambda ids, label, return_state: ran.append(list(ids)) or Dead())
    source = a_source(3, age=120)
    for _ in range(MAX_SILENT_RESUMES + 2):
        flows.recovery.recover_flow(min_age_seconds=0, label="test")
    assert ran == [[source]] * MAX_SILENT_RESUMES
    with session_scope() as session:
        assert session.get(SourceFile, source).status == "quarantined"
