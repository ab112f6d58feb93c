"""Unattended intake: the hot folder and the S3 prefix take each file once and lose none."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from sqlalchemy import func, select

from intake import sources
from intake.hot_folder import FolderResult, HotFolder, move_no_clobber, settled_files
from intake.s3 import S3Intake
from storage.db import session_scope
from storage.models import MailItem, SourceFile

ROOT = Path(__file__).resolve().parents[1]


# --- shared helpers (test_exactly_once and test_scale_out use them too) -----------------


def import_roster(tmp_path: Path, n: int = 6, seed: int = 3):  # a samples.Roster
    """A generated roster, imported through the CLI like an admin would."""
    from typer.testing import CliRunner

    from letterbridge.cli import app
    from letterbridge.samples import make_roster

    roster = make_roster(n, seed=seed)
    csvs = roster.write_csvs(tmp_path / "roster")
    args = [a for kind, path in csvs.items() for a in (f"--{kind}", str(path))]
    result = CliRunner().invoke(app, ["roster", "import", *args])
    assert result.exit_code == 0, result.output
    return roster


def write_letters(roster, out: Path, count: int, *, n_pages: int = 1, seed: int = 100,
                  prefix: str = "scan") -> list[Path]:
    """Typed letters from matched senders, one PDF each (ground truth kept out of `out`)."""
    from letterbridge.samples import make_letter, write_letter

    matched = {number for number, _ in roster.matches}
    senders = [p for p in roster.inmates if p.inmate_number in matched]
    paths = []
    for i in range(count):
        letter = make_letter(senders[i % len(senders)], seed=seed + i, style="typed",
                             n_pages=n_pages, degrade="scan")
        paths.append(write_letter(letter, out / f"{prefix}-{i:04d}.pdf",
                                  truth_dir=out.parent / f"{out.name}-truth"))
    return paths


def item_counts() -> dict[str, int]:
    with session_scope() as session:
        return dict(session.execute(
            select(MailItem.status, func.count()).group_by(MailItem.status)).all())


# --- hot folder: plain functions ---------------------------------------------------------


def test_a_file_still_growing_is_not_taken(tmp_path: Path) -> None:
    """GIVEN a scanner still writing a file WHEN the folder is checked THEN the file is left alone;
    once it stops growing it is taken."""
    growing = tmp_path / "scan.pdf"
    growing.write_bytes(b"%PDF-1.4 first half")

    def scanner_writes_more(_seconds: float) -> None:
        with growing.open("ab") as handle:
            handle.write(b" second half")

    assert settled_files(tmp_path, settle_seconds=0.1, sleep=scanner_writes_more) == []
    assert settled_files(tmp_path, settle_seconds=0.1, sleep=lambda _s: None,
                         clock=lambda: time.time() + 10) == [growing]


def test_a_fresh_file_waits_for_the_settle_time_and_partial_names_are_ignored(
        tmp_path: Path) -> None:
    """GIVEN a file written a moment ago and a browser's `.part` download WHEN checked THEN
    neither is taken yet."""
    (tmp_path / "scan.pdf").write_bytes(b"%PDF")
    (tmp_path / "scan2.pdf.part").write_bytes(b"%PDF")
    (tmp_path / ".hidden.pdf").write_bytes(b"%PDF")
    assert settled_files(tmp_path, settle_seconds=60, sleep=lambda _s: None) == []
    later = settled_files(tmp_path, settle_seconds=60, sleep=lambda _s: None,
                          clock=lambda: time.time() + 120)
    assert [p.name for p in later] == ["scan.pdf"]


def test_two_runs_claiming_at_once_never_take_the_same_file(tmp_path: Path) -> None:
    """GIVEN 40 dropped files WHEN eight runs claim them all at the same moment THEN every file
    is in exactly one claim."""
    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    files = [hot.root / f"scan-{i:02d}.pdf" for i in range(40)]
    for path in files:
        path.write_bytes(path.name.encode())
    claims: list = []
    barrier = threading.Barrier(8)

    def run() -> None:
        barrier.wait()
        claim = hot.claim(files)
        if claim is not None:
            claims.append(claim)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = [p.name for c in claims for p in c.files()]
    assert sorted(taken) == sorted(p.name for p in files)
    for claim in claims:
        claim.release()


def test_a_claim_is_taken_over_only_after_its_run_is_killed(tmp_path: Path) -> None:
    """GIVEN a run (a real process) holding a claim WHEN another run looks THEN it leaves the
    claim alone; WHEN the first is killed with SIGKILL THEN the next run takes it over, counting
    the attempt."""
    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    (hot.root / "scan.pdf").write_bytes(b"%PDF")
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time; from pathlib import Path\n"
            "from intake.hot_folder import HotFolder\n"
            "hot = HotFolder(Path(sys.argv[1]))\n"
            "claim = hot.claim([hot.root / 'scan.pdf'])\n"
            "print('claimed', flush=True)\n"
            "time.sleep(600)\n"), str(hot.root)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        assert not (hot.root / "scan.pdf").exists()
        assert hot.orphaned_claims() == []
        assert not hot.has_orphaned_claims()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert hot.has_orphaned_claims()
    [claim] = hot.orphaned_claims()
    assert [p.name for p in claim.files()] == ["scan.pdf"]
    assert claim.attempt == 2
    claim.release()  # files left: the claim stays for the next run, with its count
    [again] = hot.orphaned_claims()
    assert again.attempt == 3
    again.release()


def test_processed_files_never_overwrite_each_other(tmp_path: Path) -> None:
    """GIVEN the scanner reuses a file name every day WHEN both files are filed away THEN both
    are kept."""
    done = tmp_path / "done"
    first, second = tmp_path / "a" / "scan.pdf", tmp_path / "b" / "scan.pdf"
    for path, body in ((first, b"monday"), (second, b"tuesday")):
        path.parent.mkdir()
        path.write_bytes(body)
    assert move_no_clobber(first, done).name == "scan.pdf"
    assert move_no_clobber(second, done).name == "scan-2.pdf"
    assert {p.read_bytes() for p in done.iterdir()} == {b"monday", b"tuesday"}


def test_files_are_filed_by_what_became_of_them(lb_home: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN four claimed files: one processed, one quarantined, one unfinished and one the
    process cannot read WHEN filed away THEN they go to done/, quarantine/ (with the reason),
    waiting/<its source id>/ (stored, not finished), and quarantine/ ("could not be read") —
    none is lost."""
    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    names = ["ok.pdf", "bad.pdf", "later.pdf", "locked.pdf"]
    for name in names:
        (hot.root / name).write_bytes(f"bytes of {name}".encode())
    claim = hot.claim([hot.root / n for n in names])
    real_register = sources.register_source

    def register(path: Path, **kwargs: object):
        if path.name == "locked.pdf":
            raise PermissionError(13, "Permission denied")
        return real_register(path, **kwargs)

    monkeypatch.setattr(sources, "register_source", register)
    registered = hot.register(claim)
    assert sorted(p.name for p in registered) == ["bad.pdf", "later.pdf", "ok.pdf"]
    by_name = {p.name: sid for p, sid in registered.items()}
    with session_scope() as session:
        session.get(SourceFile, by_name["ok.pdf"]).status = "done"
        bad = session.get(SourceFile, by_name["bad.pdf"])
        bad.status, bad.error = "quarantined", "the PDF is damaged (truncated)"
    result = hot.file_away(claim, registered)
    assert result.done == [by_name["ok.pdf"]]
    assert result.quarantined == [by_name["bad.pdf"]]
    assert result.pending == [by_name["later.pdf"]]
    assert (hot.done / "ok.pdf").is_file()
    assert (hot.quarantine / "bad.pdf.reason.txt").read_text().strip() == \
        "the PDF is damaged (truncated)"
    assert "could not be read: Permission denied" in \
        (hot.quarantine / "locked.pdf.reason.txt").read_text()
    assert claim.files() == []
    claim.release()
    assert (hot.waiting / by_name["later.pdf"] / "later.pdf").is_file()
    assert not hot.processing.exists() or not any(hot.processing.iterdir())


def test_a_stored_file_that_never_finishes_waits_for_its_source_not_in_a_loop(
        lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a stored file whose processing never finishes WHEN its claim reaches the last
    attempt THEN it is not quarantined on a count of runs: it leaves the claim (no run takes
    it again) for waiting/; WHEN its source is then finished THEN the next look moves it to
    done/, once."""
    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    (hot.root / "stuck.pdf").write_bytes(b"never finishes")
    claim = hot.claim([hot.root / "stuck.pdf"])
    claim.attempt = sources.MAX_ATTEMPTS
    registered = hot.register(claim)
    result = hot.file_away(claim, registered)
    claim.release()
    [source_id] = result.pending
    assert not list(hot.quarantine.iterdir())
    assert not hot.processing.exists() or not any(hot.processing.iterdir())
    assert not hot.has_orphaned_claims()
    assert hot.file_away_waiting() == FolderResult()  # still unfinished: it stays
    assert (hot.waiting / source_id / "stuck.pdf").is_file()
    with session_scope() as session:
        session.get(SourceFile, source_id).status = "done"
    assert hot.file_away_waiting().done == [source_id]
    assert [p.name for p in hot.done.iterdir()] == ["stuck.pdf"]
    assert hot.file_away_waiting().done == []
    assert not [p for p in hot.waiting.iterdir() if not p.name.startswith(".")]


# --- S3 prefix: plain functions against moto's server ------------------------------------


@pytest.fixture
def bucket(moto_server: str) -> tuple:
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    name = f"intake-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    return client, name


def test_only_one_of_many_workers_claims_an_object(bucket: tuple) -> None:
    """GIVEN one dropped object WHEN ten workers claim it at the same moment THEN exactly one
    gets it (S3's If-None-Match: * write)."""
    client, name = bucket
    client.put_object(Bucket=name, Key="intake/scan.pdf", Body=b"%PDF")
    results: list = []
    barrier = threading.Barrier(10)

    def worker(n: int) -> None:
        intake = S3Intake(client, name, "intake/", owner=f"worker-{n}")
        barrier.wait()
        results.append(intake.claim("intake/scan.pdf"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [1] + [None] * 9


def test_a_dead_workers_claim_expires_and_is_taken_over_once(bucket: tuple) -> None:
    """GIVEN an object claimed by a worker that died WHEN the claim is older than the TTL THEN
    one other worker takes it over (attempt 2) and a third cannot."""
    client, name = bucket
    client.put_object(Bucket=name, Key="intake/scan.pdf", Body=b"%PDF")
    assert S3Intake(client, name, "intake/", owner="dead").claim("intake/scan.pdf") == 1
    alive = S3Intake(client, name, "intake/", owner="alive", claim_ttl_seconds=3600)
    assert alive.claim("intake/scan.pdf") is None
    assert alive.pending(unclaimed_only=True) == []
    time.sleep(1.1)
    successor = S3Intake(client, name, "intake/", owner="successor", claim_ttl_seconds=1)
    assert successor.pending(unclaimed_only=True) == ["intake/scan.pdf"]
    assert successor.claim("intake/scan.pdf") == 2
    third = S3Intake(client, name, "intake/", owner="third", claim_ttl_seconds=1)
    assert third.claim("intake/scan.pdf") is None
    marker = json.loads(client.get_object(Bucket=name, Key="intake/.claims/scan.pdf")["Body"]
                        .read())
    assert marker["by"] == "successor"


def test_filed_away_objects_are_moved_tagged_and_never_listed_again(bucket: tuple) -> None:
    """GIVEN two claimed objects WHEN one is processed and one quarantined THEN they move to
    processed/ and quarantine/ (with a reason object), carry their source id as a tag, the
    claims are gone, and the next poll sees nothing; filing away again is harmless."""
    client, name = bucket
    for key in ("intake/a.pdf", "intake/b.pdf"):
        client.put_object(Bucket=name, Key=key, Body=key.encode())
    client.put_object(Bucket=name, Key="intake/c.pdf.part", Body=b"uploading")
    intake = S3Intake(client, name, "intake/")
    assert intake.pending() == ["intake/a.pdf", "intake/b.pdf"]
    for key in intake.pending():
        assert intake.claim(key) == 1
    intake.file_away("intake/a.pdf", status="done", source_id="src-a")
    intake.file_away("intake/b.pdf", status="quarantined", source_id="src-b",
                     reason="the file is a text file")
    intake.file_away("intake/a.pdf", status="done", source_id="src-a")  # a retry
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]}
    assert keys == {"intake/processed/a.pdf", "intake/quarantine/b.pdf",
                    "intake/quarantine/b.pdf.reason.txt", "intake/c.pdf.part"}
    tags = {t["Key"]: t["Value"] for t in client.get_object_tagging(
        Bucket=name, Key="intake/processed/a.pdf")["TagSet"]}
    assert tags == {"letterbridge-status": "done", "letterbridge-source": "src-a"}
    assert intake.pending() == []


# --- the flows, against the test Prefect server -------------------------------------------


@pytest.mark.prefect
def test_hot_folder_flow_turns_dropped_files_into_letters(
        prefect_api: str, lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a letter, a text file named .pdf and an empty file in the hot folder WHEN the
    hot-folder flow runs THEN the letter is processed and filed in done/, each bad file is in
    quarantine/ with its reason; WHEN the same letter is dropped again under another name THEN
    it is filed as done without a second letter."""
    from flows.intake import hot_folder_flow

    roster = import_roster(tmp_path)
    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    [letter] = write_letters(roster, hot.root, 1)
    (hot.root / "notes.pdf").write_text("not a scan at all\n")
    (hot.root / "empty.pdf").write_bytes(b"")
    old = time.time() - 60  # dropped a minute ago: settled
    for path in hot.root.iterdir():
        if path.is_file():
            os.utime(path, (old, old))

    state = hot_folder_flow(str(hot.root), settle_seconds=0.2, return_state=True)
    assert state.is_completed(), state.message
    assert sorted(p.name for p in hot.done.iterdir()) == [letter.name]
    assert sorted(p.name for p in hot.quarantine.iterdir()) == [
        "empty.pdf", "empty.pdf.reason.txt", "notes.pdf", "notes.pdf.reason.txt"]
    assert "text file" in (hot.quarantine / "notes.pdf.reason.txt").read_text()
    assert (hot.quarantine / "empty.pdf.reason.txt").read_text().strip()
    assert not [p for p in hot.root.iterdir() if p.is_file()]
    counts = item_counts()
    assert counts.pop("quarantined") == 2
    assert sum(counts.values()) == 1 and set(counts) <= {"released", "needs_review"}
    # The admin's view: the run ends with tables of ids and outcomes, no names, no file names.
    from prefect_http import prefect_http

    with session_scope() as session:
        item_ids = list(session.scalars(select(MailItem.id)))
    tables = {}
    for key in ("hot-folder-intake", "ingest-summary"):  # the newest of each: this test's
        [artifact] = prefect_http.post(f"{prefect_api}/artifacts/filter", timeout=30, json={
            "artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1,
        }).raise_for_status().json()
        tables[key] = str(artifact["data"])
        assert letter.name not in tables[key] and "notes.pdf" not in tables[key]
    assert all(item_id in tables["ingest-summary"] for item_id in item_ids)
    assert tables["hot-folder-intake"].count("quarantined") == 2

    again = hot.root / "rescanned.pdf"
    again.write_bytes((hot.done / letter.name).read_bytes())
    os.utime(again, (old, old))
    state = hot_folder_flow(str(hot.root), settle_seconds=0.2, return_state=True)
    assert state.is_completed(), state.message
    assert (hot.done / "rescanned.pdf").is_file()
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(SourceFile)) == 3
        assert session.scalar(select(func.count()).select_from(MailItem)) == 3


@pytest.fixture
def s3_settings(lb_home: Path, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """Blobs in a fresh bucket on moto's server, intake under "mailroom/" in the same bucket."""
    from config.settings import reset_settings
    from storage import blobs

    bucket_name = f"lb-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LETTERBRIDGE_BLOB_BACKEND", "s3")
    monkeypatch.setenv("LETTERBRIDGE_S3_BUCKET", bucket_name)
    monkeypatch.setenv("LETTERBRIDGE_S3_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("LETTERBRIDGE_S3_INTAKE_PREFIX", "mailroom/")
    reset_settings()
    blobs._stores.clear()
    blobs.get_blob_store()  # creates the bucket
    return boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1"), bucket_name


@pytest.mark.prefect
def test_s3_intake_flow_takes_each_object_once(
        prefect_api: str, s3_settings: tuple, tmp_path: Path) -> None:
    """GIVEN blobs in S3 and, under the intake prefix, a letter and a text file named .pdf
    WHEN the S3 flow runs twice THEN the letter becomes one letter and moves to processed/,
    the text file moves to quarantine/ with its reason, and the second run finds nothing."""
    from flows.intake import s3_intake_flow
    from storage import blobs

    client, bucket_name = s3_settings
    roster = import_roster(tmp_path)
    [letter] = write_letters(roster, tmp_path / "scans", 1)
    client.upload_file(str(letter), bucket_name, "mailroom/letter.pdf")
    client.put_object(Bucket=bucket_name, Key="mailroom/notes.pdf", Body=b"just some text\n")

    state = s3_intake_flow(return_state=True)
    assert state.is_completed(), state.message
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket_name, Prefix="mailroom/")
            ["Contents"]}
    assert keys == {"mailroom/processed/letter.pdf", "mailroom/quarantine/notes.pdf",
                    "mailroom/quarantine/notes.pdf.reason.txt"}
    assert s3_intake_flow(return_state=True).message == "nothing new"
    counts = item_counts()
    assert counts.pop("quarantined") == 1
    assert sum(counts.values()) == 1
    # The original went to the blob store under its hash, like any ingested file.
    with session_scope() as session:
        source = session.scalar(select(SourceFile).where(SourceFile.filename == "letter.pdf"))
        assert source.uploaded_by == "s3-intake"
    assert blobs.get_blob_store().exists(source.blob_key)


@pytest.mark.prefect
def test_s3_intake_can_hand_its_letters_to_the_work_pool(
        prefect_api: str, s3_settings: tuple, tmp_path: Path) -> None:
    """GIVEN the pool deployment and, under the prefix, one scan uploaded twice under two names
    WHEN the S3 flow runs with `dispatch_to` THEN both objects move to waiting/<source id>/
    tagged "dispatched" (not processed/: nothing has processed them yet), the scan is one
    source, and one flow run for it waits in the pool, told where its objects wait; WHEN the
    flow runs again THEN nothing new is queued and the objects still wait."""
    from prefect_http import prefect_http

    from flows.deployments import deploy_to_pool, pool_deployment_name
    from flows.intake import s3_intake_flow

    client, bucket_name = s3_settings
    pool = f"letters-{uuid.uuid4().hex[:6]}"
    deploy_to_pool(pool)
    for key in ("mailroom/scan-a.pdf", "mailroom/scan-b.pdf"):
        client.put_object(Bucket=bucket_name, Key=key, Body=b"%PDF-1.4 the same scan")
    state = s3_intake_flow(dispatch_to=pool_deployment_name(pool), return_state=True)
    assert state.is_completed(), state.message
    with session_scope() as session:
        [source_id] = session.scalars(select(SourceFile.id)).all()
    waiting = {f"mailroom/waiting/{source_id}/scan-a.pdf",
               f"mailroom/waiting/{source_id}/scan-b.pdf"}
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket_name, Prefix="mailroom/")
            ["Contents"]}
    assert keys == waiting
    for key in waiting:
        tags = {t["Key"]: t["Value"] for t in client.get_object_tagging(
            Bucket=bucket_name, Key=key)["TagSet"]}
        assert tags == {"letterbridge-status": "dispatched", "letterbridge-source": source_id}
    deployment = prefect_http.get(f"{prefect_api}/deployments/name/process-sources/{pool}").json()
    runs = prefect_http.post(f"{prefect_api}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [deployment["id"]]}}}).json()
    assert [r["parameters"]["source_ids"] for r in runs] == [[source_id]]
    assert runs[0]["parameters"]["s3_prefix"] == "mailroom/"
    assert s3_intake_flow(dispatch_to=pool_deployment_name(pool),
                          return_state=True).message == "nothing new"
    assert {o["Key"] for o in client.list_objects_v2(Bucket=bucket_name, Prefix="mailroom/")
            ["Contents"]} == waiting


def test_the_worker_serves_what_the_settings_switch_on(
        lb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the hot folder and the daily print batch switched on (S3 off) WHEN the worker's
    deployments are built THEN it serves this machine's hot folder, the print batch on its
    cron in the machine's time zone, recovery and the email outbox — and no S3 poller."""
    from config.settings import get_settings, reset_settings
    from flows.deployments import WorkerOptions, host_name, served_deployments

    monkeypatch.setenv("LETTERBRIDGE_WATCH_ENABLED", "true")
    monkeypatch.setenv("LETTERBRIDGE_WATCH_FOLDER", str(tmp_path / "hot"))
    monkeypatch.setenv("LETTERBRIDGE_PRINT_BATCH_ENABLED", "true")
    monkeypatch.setenv("LETTERBRIDGE_PRINT_BATCH_CRON", "30 5 * * 1-5")
    monkeypatch.setenv("TZ", "America/Chicago")
    reset_settings()
    served = {f"{d.flow_name}/{d.name}": d
              for d in served_deployments(get_settings(), WorkerOptions(every_seconds=120))}
    host = host_name()
    assert set(served) == {f"hot-folder/{host}", "print-batch/daily", f"recover/{host}",
                           f"notify-outbox/{host}"}
    cron = served["print-batch/daily"].schedules[0].schedule
    assert (cron.cron, cron.timezone) == ("30 5 * * 1-5", "America/Chicago")
    assert served["print-batch/daily"].parameters == {"out_dir": str(lb_home / "print-batches"),
                                                      "dated": True}
    assert served[f"hot-folder/{host}"].parameters["folder"] == str(tmp_path / "hot")
    assert served[f"hot-folder/{host}"].schedules[0].schedule.interval.total_seconds() == 120
    assert served[f"hot-folder/{host}"].entrypoint == "flows.intake.hot_folder_flow"


@pytest.mark.prefect
def test_the_daily_print_batch_is_scheduled_by_the_server(
        prefect_api: str, lb_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the daily print batch switched on WHEN the worker registers its deployments THEN
    the Prefect server puts the next runs on the calendar at the cron's time — what makes the
    batch ready every morning without anyone starting it."""
    from prefect_http import prefect_http

    from config.settings import get_settings, reset_settings
    from flows.deployments import served_deployments, unscheduled

    monkeypatch.setenv("LETTERBRIDGE_PRINT_BATCH_ENABLED", "true")
    monkeypatch.setenv("LETTERBRIDGE_PRINT_BATCH_CRON", "15 6 * * *")
    monkeypatch.setenv("TZ", "UTC")
    reset_settings()
    [batch] = [d for d in served_deployments(get_settings()) if d.flow_name == "print-batch"]
    deployment_id = batch.apply()
    deadline = time.monotonic() + 45
    while unscheduled(["print-batch/daily"]) and time.monotonic() < deadline:
        time.sleep(1)
    runs = prefect_http.post(f"{prefect_api}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [str(deployment_id)]}},
        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).json()
    assert runs, ("the server scheduled no print batch: its scheduler fails (Prefect 3.8 with "
                  "SQLAlchemy 2.1: \"Can't evaluate bulk DML statement\" in the server log); "
                  "pin SQLAlchemy<2.1")
    assert all(r["expected_start_time"][11:19] == "06:15:00" for r in runs)
    assert runs[0]["parameters"]["out_dir"] == str(lb_home / "print-batches")
