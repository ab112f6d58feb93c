"""Intake files each original by what became of its source: a file handed to the work pool,
or stopped by an outage, waits in waiting/ and ends in done/processed or quarantine/ with its
own reason once its source is finished, whoever finishes it (the pool's run, recovery)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import boto3
import pytest
from forwarder import Forwarder
from prefect_http import prefect_http
from sqlalchemy import select
from test_intake import import_roster, s3_settings, write_letters  # noqa: F401
from test_outages import s3_through  # noqa: F401

from intake.hot_folder import HotFolder
from intake.sources import MAX_ATTEMPTS
from letterbridge.samples.badinputs import make_bad_inputs
from storage.db import session_scope
from storage.models import SourceFile

# flows.* (Prefect) is imported inside the tests, once `prefect_api` has set PREFECT_API_URL.


def keys_under(client, bucket: str, prefix: str = "mailroom/") -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix)
            .get("Contents", [])}


def tags_of(client, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"]
            for t in client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def source_of(filename: str) -> SourceFile:
    with session_scope() as session:
        source = session.scalar(select(SourceFile).where(SourceFile.filename == filename))
        session.expunge(source)
        return source


def truncated_pdf(tmp_path: Path) -> bytes:
    """A PDF cut in half (letterbridge.samples.badinputs): a fault of the file itself."""
    make_bad_inputs(tmp_path / "bad")
    return (tmp_path / "bad" / "truncated.pdf").read_bytes()


def a_pool() -> tuple[str, str]:
    """A work pool with the `process-sources` deployment `letterbridge pool deploy` makes, but
    not its scheduled recover and outbox runs (they would pile up, unrun, on the test server).
    Returns (pool, deployment name)."""
    from prefect.types.entrypoint import EntrypointType

    from flows.deployments import ensure_work_pool, pool_deployment_name
    from flows.intake import process_sources_flow

    pool = f"letters-{uuid.uuid4().hex[:6]}"
    ensure_work_pool(pool)
    # `_sync`: a test before this one in the same worker may leave an event loop running, and
    # Prefect's dispatch would then hand back a coroutine.
    process_sources_flow.to_deployment(
        name=pool, work_pool_name=pool, entrypoint_type=EntrypointType.MODULE_PATH, _sync=True,
    ).apply(work_pool_name=pool, _sync=True)
    return pool, pool_deployment_name(pool)


def pool_runs(api: str, pool: str) -> list[dict]:
    deployment = prefect_http.get(f"{api}/deployments/name/process-sources/{pool}").json()
    return prefect_http.post(f"{api}/flow_runs/filter", json={
        "deployments": {"id": {"any_": [deployment["id"]]}}}).json()


def s3_down_while_ingesting(monkeypatch: pytest.MonkeyPatch, s3: Forwarder) -> None:
    """Every intake run's ingest finds S3 unreachable (connections refused, as by a stopped
    server; tests/forwarder.py); it is back for the rest of the run."""
    import flows.intake

    real = flows.intake.run_ingest

    def run_ingest(source_ids: list[str], label: str) -> tuple[list[str], list[str]]:
        s3.down()
        try:
            return real(source_ids, label=label)
        finally:
            s3.up()

    monkeypatch.setattr(flows.intake, "run_ingest", run_ingest)


# --- S3 prefix, handed to the work pool -----------------------------------------------------


@pytest.mark.prefect
def test_objects_handed_to_the_pool_end_where_their_run_put_them(
        prefect_api: str, s3_settings: tuple, tmp_path: Path) -> None:  # noqa: F811
    """GIVEN a letter and a truncated PDF under the prefix WHEN the S3 flow hands them to the
    work pool THEN both wait in waiting/<source id>/, tagged "dispatched"; WHEN the pool runs
    each queued run THEN the letter is in processed/ (tagged done) and the truncated PDF in
    quarantine/ with its own reason, as when the flow processes them itself; WHEN a run is
    retried and the flow polls again THEN nothing moves and nothing is lost."""
    from flows.intake import process_sources_flow, s3_intake_flow

    client, bucket = s3_settings
    roster = import_roster(tmp_path)
    [letter] = write_letters(roster, tmp_path / "scans", 1, seed=810)
    client.upload_file(str(letter), bucket, "mailroom/letter.pdf")
    client.put_object(Bucket=bucket, Key="mailroom/bad.pdf", Body=truncated_pdf(tmp_path))
    pool, deployment = a_pool()

    state = s3_intake_flow(dispatch_to=deployment, return_state=True)
    assert state.is_completed(), state.message
    good, bad = source_of("letter.pdf"), source_of("bad.pdf")
    waiting = {f"mailroom/waiting/{good.id}/letter.pdf", f"mailroom/waiting/{bad.id}/bad.pdf"}
    assert keys_under(client, bucket) == waiting
    assert {tags_of(client, bucket, key)["letterbridge-status"] for key in waiting} == {
        "dispatched"}

    runs = pool_runs(prefect_api, pool)
    assert sorted(r["parameters"]["source_ids"] for r in runs) == sorted([[good.id], [bad.id]])
    for run in runs:  # what the pool's worker runs
        process_sources_flow(**run["parameters"])

    assert keys_under(client, bucket) == {"mailroom/processed/letter.pdf",
                                          "mailroom/quarantine/bad.pdf",
                                          "mailroom/quarantine/bad.pdf.reason.txt"}
    assert tags_of(client, bucket, "mailroom/processed/letter.pdf") == {
        "letterbridge-status": "done", "letterbridge-source": good.id}
    assert tags_of(client, bucket, "mailroom/quarantine/bad.pdf") == {
        "letterbridge-status": "quarantined", "letterbridge-source": bad.id}
    reason = client.get_object(Bucket=bucket, Key="mailroom/quarantine/bad.pdf.reason.txt")[
        "Body"].read().decode()
    assert reason.strip() == source_of("bad.pdf").error.strip()
    assert reason.strip() and "processing failed" not in reason
    original = client.get_object(Bucket=bucket, Key="mailroom/processed/letter.pdf")["Body"]
    assert original.read() == letter.read_bytes()

    [bad_run] = [r for r in runs if r["parameters"]["source_ids"] == [bad.id]]
    process_sources_flow(**bad_run["parameters"])  # a retried run
    assert s3_intake_flow(dispatch_to=deployment, return_state=True).message == "nothing new"
    assert len(keys_under(client, bucket)) == 3


@pytest.mark.prefect
def test_an_object_whose_pool_run_was_lost_is_filed_once_recovery_finishes_it(
        prefect_api: str, s3_settings: tuple, tmp_path: Path) -> None:  # noqa: F811
    """GIVEN a truncated PDF handed to the work pool WHEN its queued run is lost and recovery
    takes the source instead THEN the object still waits; WHEN the S3 flow next polls THEN it
    is in quarantine/ with the file's own reason."""
    from flows.intake import s3_intake_flow
    from flows.recovery import recover_flow

    client, bucket = s3_settings
    client.put_object(Bucket=bucket, Key="mailroom/bad.pdf", Body=truncated_pdf(tmp_path))
    pool, deployment = a_pool()
    assert s3_intake_flow(dispatch_to=deployment, return_state=True).is_completed()
    bad = source_of("bad.pdf")
    [run] = pool_runs(prefect_api, pool)
    prefect_http.delete(f"{prefect_api}/flow_runs/{run['id']}").raise_for_status()

    assert recover_flow(min_age_seconds=0, label="test") == [bad.id]
    assert keys_under(client, bucket) == {f"mailroom/waiting/{bad.id}/bad.pdf"}
    state = s3_intake_flow(dispatch_to=deployment, return_state=True)
    assert state.is_completed(), state.message
    assert keys_under(client, bucket) == {"mailroom/quarantine/bad.pdf",
                                          "mailroom/quarantine/bad.pdf.reason.txt"}
    reason = client.get_object(Bucket=bucket, Key="mailroom/quarantine/bad.pdf.reason.txt")[
        "Body"].read().decode()
    assert reason.strip() == source_of("bad.pdf").error.strip()


# --- an outage never uses up a file's tries --------------------------------------------------


@pytest.mark.prefect
@pytest.mark.slow
def test_a_hot_folder_file_stored_before_s3_went_down_is_never_quarantined_for_it(
        prefect_api: str, s3_through: Forwarder, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a letter in the hot folder, blobs in S3 WHEN S3 is unreachable during every run's
    ingest, for more runs than MAX_ATTEMPTS THEN the letter (stored before) is not quarantined:
    it waits in waiting/<source id>/, and the runs say it is not finished; WHEN S3 is back
    and recovery finishes it THEN the next run moves it to done/."""
    from flows.intake import hot_folder_flow
    from flows.recovery import recover_flow

    roster = import_roster(tmp_path)
    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    [letter] = write_letters(roster, tmp_path / "scans", 1, seed=820)
    shutil.copy(letter, hot.root / letter.name)
    (hot.root / f"{letter.name}.done").touch()  # the scanner says it finished: taken at once
    s3_down_while_ingesting(monkeypatch, s3_through)

    states = [hot_folder_flow(str(hot.root), return_state=True) for _ in range(MAX_ATTEMPTS)]
    assert not list(hot.quarantine.iterdir())
    source = source_of(letter.name)
    assert source.status == "received"  # stored, never rendered: S3 was away
    assert [p.name for p in (hot.waiting / source.id).iterdir()] == [letter.name]
    assert not hot.has_orphaned_claims()
    assert states[0].is_failed() and "not finished" in states[0].message
    assert [s.message for s in states[1:]] == ["nothing new"] * (MAX_ATTEMPTS - 1)

    assert recover_flow(min_age_seconds=0, label="test") == [source.id]
    state = hot_folder_flow(str(hot.root), return_state=True)
    assert state.is_completed(), state.message
    assert [p.name for p in hot.done.iterdir()] == [letter.name]
    assert (hot.done / letter.name).read_bytes() == letter.read_bytes()
    assert not [p for p in hot.waiting.iterdir() if not p.name.startswith(".")]
    assert not list(hot.quarantine.iterdir())


@pytest.mark.prefect
@pytest.mark.slow
def test_an_s3_object_stored_before_s3_went_down_keeps_its_own_verdict(
        prefect_api: str, s3_through: Forwarder, moto_server: str, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a truncated PDF under the S3 prefix, claims that expire at once (every poll takes
    the object again) WHEN S3 is unreachable during every poll's ingest, for more polls than
    MAX_ATTEMPTS THEN the object is not quarantined for the outage: it waits in waiting/;
    WHEN S3 is back and recovery finishes the source THEN the next poll files it in
    quarantine/ with the file's own reason, not "processing failed"."""
    from config.settings import get_settings, reset_settings
    from flows.intake import s3_intake_flow
    from flows.recovery import recover_flow

    monkeypatch.setenv("LETTERBRIDGE_S3_INTAKE_PREFIX", "mailroom/")
    reset_settings()
    bucket = get_settings().s3_bucket
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.put_object(Bucket=bucket, Key="mailroom/bad.pdf", Body=truncated_pdf(tmp_path))
    s3_down_while_ingesting(monkeypatch, s3_through)

    states = [s3_intake_flow(claim_ttl_seconds=0, return_state=True)
              for _ in range(MAX_ATTEMPTS)]
    bad = source_of("bad.pdf")
    assert keys_under(client, bucket) == {f"mailroom/waiting/{bad.id}/bad.pdf"}
    assert tags_of(client, bucket, f"mailroom/waiting/{bad.id}/bad.pdf") == {
        "letterbridge-status": "unfinished", "letterbridge-source": bad.id}
    assert states[0].is_failed() and "not finished" in states[0].message
    assert [s.message for s in states[1:]] == ["nothing new"] * (MAX_ATTEMPTS - 1)

    assert recover_flow(min_age_seconds=0, label="test") == [bad.id]
    assert s3_intake_flow(claim_ttl_seconds=0, return_state=True).is_completed()
    assert keys_under(client, bucket) == {"mailroom/quarantine/bad.pdf",
                                          "mailroom/quarantine/bad.pdf.reason.txt"}
    reason = client.get_object(Bucket=bucket, Key="mailroom/quarantine/bad.pdf.reason.txt")[
        "Body"].read().decode()
    assert reason.strip() == source_of("bad.pdf").error.strip()
    assert "processing failed" not in reason


@pytest.mark.prefect
def test_hot_folder_runs_an_outage_stopped_are_not_counted_as_attempts(
        prefect_api: str, lb_home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a text file named .pdf in the hot folder WHEN more runs than MAX_ATTEMPTS end
    because storing it is refused (a connection, not the file) THEN its claim still counts one
    attempt; WHEN storage answers again THEN the next run still processes it (the hot folder
    stops re-running only claims whose runs died for other reasons) and quarantines it with its
    own reason."""
    import flows.intake
    from intake import hot_folder

    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    (hot.root / "notes.pdf").write_text("not a scan at all\n")
    (hot.root / "notes.pdf.done").touch()
    real_register = hot_folder.register_file

    def refused(path: Path, *, uploaded_by: str) -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(hot_folder, "register_file", refused)
    monkeypatch.setattr(flows.intake, "register_files",  # no waits between tries
                        flows.intake.register_files.with_options(retries=0))
    for _ in range(MAX_ATTEMPTS + 1):
        state = flows.intake.hot_folder_flow(str(hot.root), return_state=True)
        assert state.is_failed()
    [claim] = hot.orphaned_claims()
    assert claim.attempt == 1
    claim.release()

    monkeypatch.setattr(hot_folder, "register_file", real_register)
    state = flows.intake.hot_folder_flow(str(hot.root), return_state=True)
    assert state.is_completed(), state.message
    assert sorted(p.name for p in hot.quarantine.iterdir()) == ["notes.pdf",
                                                                "notes.pdf.reason.txt"]
    assert "text file" in (hot.quarantine / "notes.pdf.reason.txt").read_text()


@pytest.mark.prefect
def test_a_claim_whose_runs_kept_dying_is_left_to_recovery_not_run_again(
        prefect_api: str, lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a stored file in a claim whose runs died MAX_ATTEMPTS times (a file that kills its
    worker, say) WHEN the next run takes the claim over THEN it does not process the file again
    but sets it to wait, unjudged; WHEN recovery has processed it THEN the next run files it
    with its own reason."""
    from flows.intake import hot_folder_flow
    from flows.recovery import recover_flow

    hot = HotFolder(tmp_path / "hot")
    hot.ensure()
    (hot.root / "notes.pdf").write_text("not a scan at all\n")
    claim = hot.claim([hot.root / "notes.pdf"])
    [source_id] = hot.register(claim).values()
    (claim.path / ".attempts").write_text(str(MAX_ATTEMPTS))
    claim.release()  # as a killed run leaves it

    state = hot_folder_flow(str(hot.root), return_state=True)
    assert state.is_failed() and "not finished" in state.message
    assert [p.name for p in (hot.waiting / source_id).iterdir()] == ["notes.pdf"]
    assert source_of("notes.pdf").status == "received"  # not processed by this run
    assert not list(hot.quarantine.iterdir())

    assert recover_flow(min_age_seconds=0, label="test") == [source_id]
    assert hot_folder_flow(str(hot.root), return_state=True).is_completed()
    assert "text file" in (hot.quarantine / "notes.pdf.reason.txt").read_text()
    assert not (hot.waiting / source_id).exists()
