"""Exactly once: a process killed with SIGKILL half way through a batch loses nothing and
delivers nothing twice once the work is picked up again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lease_holder import HOLD_LEASE
from sqlalchemy import func, select
from test_intake import import_roster, write_letters

from storage.db import session_scope
from storage.models import AuditEvent, ItemStatus, MailItem, Page, SourceFile

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


# --- helpers --------------------------------------------------------------------------------


def start(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    """A `letterbridge` command in its own process group (so a kill takes its children too)."""
    return subprocess.Popen(
        [str(VENV_BIN / "letterbridge"), *args], cwd=ROOT, env={**os.environ, **env},
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def kill_hard(proc: subprocess.Popen) -> None:
    """What a power cut does to the worker: SIGKILL, to the whole process group."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def stop(proc: subprocess.Popen) -> None:
    """Politely, then not: Prefect's runner may take its time over SIGTERM."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def letters_done() -> tuple[int, int]:
    """(letters finished, letters known); "finished" includes the volunteer's email."""
    with session_scope() as session:
        items = session.scalars(select(MailItem)).all()
        done = [i for i in items if i.stage == "done"
                and (i.status != ItemStatus.released or i.notified_at is not None)]
        return len(done), len(items)


def some_letters_done_and_notified() -> bool:
    return letters_done()[0] >= 1


def assert_every_letter_exactly_once(sources: int, pages_per_letter: int,
                                     smtp_messages: list) -> None:
    """One item per file, every page read, none left in processing, each decision and each
    email made once."""
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(SourceFile)) == sources
        assert set(session.scalars(select(SourceFile.status))) == {"done"}
        items = session.scalars(select(MailItem)).all()
        assert len(items) == sources
        assert len({i.source_id for i in items}) == sources
        for item in items:
            assert item.status not in {ItemStatus.received, ItemStatus.processing}, item.id
            assert item.stage == "done", item.id
            assert len(item.pages) == pages_per_letter, item.id
            assert all(p.words_key for p in item.pages), item.id
        assert not session.scalar(select(func.count()).select_from(Page)
                                  .where(Page.words_key == ""))
        for action in ("item_created", "decided"):
            per_item = dict(session.execute(
                select(AuditEvent.item_id, func.count()).where(AuditEvent.action == action)
                .group_by(AuditEvent.item_id)).all())
            assert per_item == {i.id: 1 for i in items}, action
        released = {i.id for i in items if i.status == ItemStatus.released}
        assert {i.id for i in items if i.notified_at is not None} == released
    links = [m.content.decode() for m in smtp_messages]
    for item_id in released:
        assert sum(item_id in body for body in links) == 1, item_id
    assert len(smtp_messages) == len(released)


@pytest.fixture
def smtp_env(smtp_server: tuple, monkeypatch: pytest.MonkeyPatch) -> list:
    host, port, received = smtp_server
    monkeypatch.setenv("LETTERBRIDGE_SMTP_HOST", host)
    monkeypatch.setenv("LETTERBRIDGE_SMTP_PORT", str(port))
    from config.settings import reset_settings

    reset_settings()
    return received


# --- leases ------------------------------------------------------------------------------




def check_lease_follows_the_process(ids: list[str]) -> None:
    from intake.leases import lease_sources

    holder = subprocess.Popen([sys.executable, "-c", HOLD_LEASE, ids[0]],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().split() == [ids[0]]
        with lease_sources(ids) as held:
            assert held == ids[1:]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel frees a file lock as the process dies; PostgreSQL frees an advisory lock when
    # its backend reads the closed socket, a moment later. Either way it is freed on its own.
    deadline = time.monotonic() + 15
    while True:
        with lease_sources(ids) as held:
            if held == ids or time.monotonic() > deadline:
                break
        time.sleep(0.1)
    assert held == ids


def letter_runs(api: str) -> list[dict]:
    """Prefect's flow runs of this test's letters (named `letter-<item id>`)."""
    from prefect_http import prefect_http

    with session_scope() as session:
        names = [f"letter-{item_id}" for item_id in session.scalars(select(MailItem.id))]
    return prefect_http.post(f"{api}/flow_runs/filter", json={
        "flow_runs": {"name": {"any_": names}}, "limit": 200}).json() if names else []


def test_a_lease_lives_exactly_as_long_as_its_process(lb_home: Path) -> None:
    """GIVEN a process leasing a source WHEN another asks for it THEN it is refused;
    WHEN the holder is killed with SIGKILL THEN the lease is free at once."""
    check_lease_follows_the_process(["src-a", "src-b"])


# --- real kills ----------------------------------------------------------------------------


@pytest.mark.prefect
def test_ingest_killed_mid_batch_is_finished_by_recovery_exactly_once(
        prefect_api: str, lb_home: Path, tmp_path: Path, smtp_env: list) -> None:
    """GIVEN `letterbridge ingest` on three letters, killed with SIGKILL once the first letter
    is done WHEN `letterbridge recover` runs, and then the same ingest runs again THEN every
    letter exists exactly once with all its pages, none is left in processing, and each
    volunteer got exactly one email per letter."""
    roster = import_roster(tmp_path)
    scans = tmp_path / "scans"
    write_letters(roster, scans, 3)
    log = tmp_path / "ingest.log"

    proc = start(["ingest", str(scans)], log)
    try:
        wait_until(some_letters_done_and_notified, 600, "the first letter", proc, log)
    finally:
        kill_hard(proc)
    done, _ = letters_done()
    assert done < 3, "the kill must land in the middle of the batch"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(SourceFile)
                              .where(SourceFile.status != "done"))
    running_at_kill = {r["id"] for r in letter_runs(prefect_api) if r["state_type"] == "RUNNING"}

    result = subprocess.run([str(VENV_BIN / "letterbridge"), "recover"], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resumed 3 source(s)" in result.stdout
    assert_every_letter_exactly_once(3, pages_per_letter=2, smtp_messages=smtp_env)
    # The killed process's letter runs no longer show as Running in Prefect.
    after = {r["id"]: r for r in letter_runs(prefect_api)}
    assert not [r for r in after.values() if r["state_type"] == "RUNNING"]
    # A letter finished just before the kill may have its Completed report already on its way
    # to the server (which can sit on a write for a while): it lands after the kill, and that
    # run truly completed. Every other run the kill stopped is marked Crashed.
    assert all(after[run_id]["state_type"] in {"CRASHED", "COMPLETED"}
               for run_id in running_at_kill), [after[i]["state_type"] for i in running_at_kill]
    assert sum(after[run_id]["state_type"] == "COMPLETED" for run_id in running_at_kill) <= 1

    result = subprocess.run([str(VENV_BIN / "letterbridge"), "ingest", str(scans)], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("already ingested") == 3
    assert_every_letter_exactly_once(3, pages_per_letter=2, smtp_messages=smtp_env)


@pytest.mark.prefect
def test_worker_killed_mid_batch_and_restarted_finishes_the_hot_folder_exactly_once(
        prefect_api: str, lb_home: Path, tmp_path: Path, smtp_env: list) -> None:
    """GIVEN `letterbridge worker` watching a hot folder with three letters dropped in, killed
    with SIGKILL (the whole process group, like a power cut) once the first letter is done
    WHEN the worker is started again THEN every file ends in done/, every letter exists exactly
    once with all its pages and one email, nothing is stuck in processing, and the dead
    worker's flow runs show as Crashed rather than running forever."""
    roster = import_roster(tmp_path)
    hot = tmp_path / "hot"
    hot.mkdir()
    letters = write_letters(roster, tmp_path / "scans", 3)
    env = {"LETTERBRIDGE_WATCH_ENABLED": "true", "LETTERBRIDGE_WATCH_FOLDER": str(hot)}
    args = ["worker", "--poll", "0.5", "--settle", "0.5"]
    log = tmp_path / "worker.log"

    first = start(args, log, **env)
    try:
        for path in letters:
            shutil.copy(path, hot / path.name)
        wait_until(some_letters_done_and_notified, 600, "the first letter", first, log)
    finally:
        kill_hard(first)
    done, _ = letters_done()
    assert done < 3, "the kill must land in the middle of the batch"
    assert list((hot / "processing").glob("*/*.pdf")), "the files wait in the dead run's claim"

    second = start(args, log, **env)
    try:
        wait_until(lambda: len(list((hot / "done").glob("*.pdf"))) == 3, 600,
                   "all three files in done/", second, log)
        wait_until(lambda: not {"RUNNING", "PENDING"} & set(hot_folder_run_states(prefect_api)),
                   120, "the last hot-folder run to finish", second, log)
    finally:
        stop(second)
    assert not [p for p in hot.iterdir() if p.is_file()]
    assert not list((hot / "processing").rglob("*.pdf"))
    assert not list((hot / "quarantine").glob("*"))
    assert_every_letter_exactly_once(3, pages_per_letter=2, smtp_messages=smtp_env)
    states = hot_folder_run_states(prefect_api)
    assert "CRASHED" in states and "RUNNING" not in states, states


def hot_folder_run_states(api: str) -> list[str]:
    from prefect_http import prefect_http

    from flows.deployments import host_name

    deployment = prefect_http.get(f"{api}/deployments/name/hot-folder/{host_name()}").json()
    runs = prefect_http.post(f"{api}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [deployment["id"]]}}}).json()
    return [r["state_type"] for r in runs]


@pytest.mark.prefect
def test_recovery_marks_a_dead_processs_letter_runs_crashed(prefect_api: str, lb_home: Path) -> None:
    """GIVEN a letter whose flow run Prefect shows as Running, and a letter of another source
    WHEN recovery, holding the first source's lease, clears dead runs
    THEN that letter's run is Crashed with a reason, and the other letter's run is left alone."""
    from prefect import get_client
    from prefect.states import Running
    from prefect_http import prefect_http

    from flows.run_states import crash_dead_letter_runs

    with session_scope() as session:
        ours, other = (SourceFile(sha256=c * 64, filename=f"{c}.pdf", blob_key=c) for c in "ab")
        session.add_all([ours, other])
        session.flush()
        items = [MailItem(source_id=ours.id), MailItem(source_id=other.id)]
        session.add_all(items)
        session.flush()
        source_id, item_ids = ours.id, [i.id for i in items]

    from flows.mail_item import mail_item_flow

    with get_client(sync_client=True) as client:
        runs = [client.create_flow_run(mail_item_flow, name=f"letter-{item_id}",
                                       parameters={"item_id": item_id}, state=Running())
                for item_id in item_ids]

    assert crash_dead_letter_runs([source_id]) == 1
    states = [prefect_http.get(f"{prefect_api}/flow_runs/{run.id}").json() for run in runs]
    assert states[0]["state_type"] == "CRASHED"
    assert "recovery resumed it" in states[0]["state"]["message"]
    assert states[1]["state_type"] == "RUNNING"
