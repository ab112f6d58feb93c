"""Unattended intake as Prefect flows: the hot folder, the S3 prefix, and one batch of sources.

Each run: take what was dropped (an atomic claim), register it (SHA-256: the same bytes are
one source, whoever registers them), ingest what is not finished under a lease, then file
each original away by its outcome. A run killed anywhere in between leaves a claim the next
run takes over; registration and ingest resume from what the database recorded.

A file is filed by what became of its source, never by how many runs it took: one whose
source is stored but not finished (an outage stopped its run, or it was handed to the work
pool) waits in `waiting/` until the source finishes, whoever finishes it (the pool's run,
recovery), and is then moved to done/processed or quarantine with the source's reason.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.states import Completed, Failed, State

from config.settings import get_settings
from flows.recovery import run_ingest
from intake.hot_folder import SETTLE_SECONDS, FolderClaim, FolderResult, HotFolder, settled_files
from intake.s3 import S3Intake
from intake.sources import MAX_ATTEMPTS, source_outcome
from storage.outages import is_outage

log = logging.getLogger(__name__)

# Ids and paths in, ids out: nothing worth caching or persisting (see shared/PREFECT.md).
TASK_OPTIONS = {"cache_policy": NO_CACHE, "persist_result": False}
RETRY = {"retries": 2, "retry_delay_seconds": [2, 10]}


def _stamp() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}"


def _summary(state: str, results: dict[str, list[str]]) -> State:
    counts = {k: len(v) for k, v in results.items()}
    if results.get("pending"):
        return Failed(message=f"{counts['pending']} file(s) stored but not finished; they wait "
                              f"in waiting/ until recovery finishes them ({counts})", data=counts)
    return Completed(message=f"{state}: {counts}", data=counts)


def _merge(results: dict[str, list[str]], more: dict[str, list[str]]) -> None:
    for outcome, ids in more.items():
        results.setdefault(outcome, []).extend(ids)


def _artifact(key: str, results: dict[str, list[str]], description: str) -> None:
    rows = [{"source": sid, "outcome": outcome}
            for outcome, ids in results.items() for sid in ids]
    if rows:
        create_table_artifact(key=key, table=rows, description=description)


# --- hot folder --------------------------------------------------------------------------


@task(name="register-files", task_run_name="register-{claim_name}", **RETRY, **TASK_OPTIONS)
def register_files(folder: str, claim_name: str, attempt: int) -> dict[str, str]:
    hot = HotFolder(Path(folder))
    claim = FolderClaim(hot, claim_name, lock_fd=-1, attempt=attempt)
    return {str(p): sid for p, sid in hot.register(claim).items()}


@task(name="file-away", task_run_name="file-away-{claim_name}", **RETRY, **TASK_OPTIONS)
def file_away(folder: str, claim_name: str, attempt: int,
              registered: dict[str, str]) -> FolderResult:
    hot = HotFolder(Path(folder))
    claim = FolderClaim(hot, claim_name, lock_fd=-1, attempt=attempt)
    return hot.file_away(claim, {Path(p): sid for p, sid in registered.items()})


@task(name="file-away-waiting", **RETRY, **TASK_OPTIONS)
def file_away_waiting(folder: str) -> FolderResult:
    return HotFolder(Path(folder)).file_away_waiting()


@flow(name="hot-folder", flow_run_name=lambda: f"hot-folder-{_stamp()}", log_prints=False)
def hot_folder_flow(folder: str, settle_seconds: float = SETTLE_SECONDS,
                    max_files: int = 20, *, require_marker: bool = False) -> State:
    """Finished files → letters; originals to done/ or quarantine/ (+ reason).

    Finished: marked complete by a `<name>.done` / `.ready` marker, or unchanged for
    `settle_seconds` unless `require_marker` (see `intake.hot_folder.settled_files`).

    At most `max_files` a run: a big drop goes in several batches, one right after the
    other, so the first letters reach their pen pals without waiting for the last.
    """
    hot = HotFolder(Path(folder))
    hot.ensure()
    set_aside = hot.set_aside_odd_entries()
    hot.remove_stale_markers()
    results: dict[str, list[str]] = {"done": [], "quarantined": [], "pending": []}
    # Files whose letters recovery has finished since they were set to wait.
    filed = file_away_waiting(folder)
    _merge(results, {"done": filed.done, "quarantined": filed.quarantined})
    # First what a dead run left behind, then what was dropped since.
    claims = hot.orphaned_claims()
    fresh = settled_files(hot.root, settle_seconds=settle_seconds,
                          require_marker=require_marker)[:max_files]
    if fresh and (claim := hot.claim(fresh)) is not None:
        claims.append(claim)
    if not claims:
        if set_aside:
            return Completed(message=f"hot folder: {len(set_aside)} entry(ies) that are not "
                                     "files set aside in quarantine/")
        if any(results.values()):
            return _summary("hot folder", results)
        return Completed(message="nothing new")
    try:
        registered = {c.name: register_files(folder, c.name, c.attempt) for c in claims}
        # A claim whose runs died MAX_ATTEMPTS times holding it (killed: an outage does not
        # count) is not ingested here again: its files wait for recovery, which limits a
        # letter's failed runs itself, instead of this folder starting a run every poll.
        retry = {sid for c in claims if c.attempt <= MAX_ATTEMPTS
                 for sid in registered[c.name].values()}
        todo = [sid for sid in dict.fromkeys(s for r in registered.values() for s in r.values())
                if sid in retry and source_outcome(sid).status == "pending"]
        if todo:
            run_ingest(todo, label=f"hot-folder-{_stamp()}-{len(todo)}-files")
        for c in claims:
            result = file_away(folder, c.name, c.attempt, registered[c.name])
            for outcome in results:
                results[outcome] += getattr(result, outcome)
    except Exception as exc:
        if is_outage(exc):  # storage or the database, not the files: no attempt used up
            for c in claims:
                c.mark_interrupted()
        raise
    finally:
        for c in claims:
            c.release()
    _artifact("hot-folder-intake", results, "Files taken from the hot folder (source ids only).")
    return _summary("hot folder", results)


# --- S3 prefix ---------------------------------------------------------------------------


@task(name="claim-objects", **RETRY, **TASK_OPTIONS)
def claim_objects(prefix: str, max_objects: int, claim_ttl_seconds: float) -> dict[str, int]:
    intake = S3Intake.from_settings(prefix, claim_ttl_seconds=claim_ttl_seconds)
    claimed = {}
    for key in intake.pending(limit=max_objects):
        attempt = intake.claim(key)
        if attempt is not None:
            claimed[key] = attempt
    return claimed


@task(name="register-objects", **RETRY, **TASK_OPTIONS)
def register_objects(prefix: str, keys: list[str]) -> dict[str, str]:
    intake = S3Intake.from_settings(prefix)
    return intake.register(keys, get_settings().home / "work")


@task(name="file-away-objects", **RETRY, **TASK_OPTIONS)
def file_away_objects(prefix: str, registered: dict[str, str],
                      dispatched: list[str]) -> dict[str, list[str]]:
    """Claimed objects by what became of their source: processed/ or quarantine/ (+ reason),
    or waiting/ while their letters are not finished (handed to the pool, or stopped by an
    outage; recovery resumes them). The bytes are stored as the source's original first."""
    intake = S3Intake.from_settings(prefix)
    results: dict[str, list[str]] = {"done": [], "quarantined": [], "pending": [],
                                     "dispatched": []}
    for key, sid in registered.items():
        if sid in dispatched:
            intake.hold(key, source_id=sid, status="dispatched")
            results["dispatched"].append(sid)
            continue
        outcome = source_outcome(sid)
        if outcome.status == "pending":
            intake.hold(key, source_id=sid, status="unfinished")
            results["pending"].append(sid)
            continue
        intake.file_away(key, status=outcome.status, source_id=sid, reason=outcome.reason)
        results[outcome.status].append(sid)
    return results


@task(name="file-away-finished", **RETRY, **TASK_OPTIONS)
def file_away_finished(prefix: str, source_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Objects in waiting/ (all, or those of `source_ids`) whose source has finished, by
    whatever run: to processed/ or quarantine/ with the source's reason. Safe to repeat."""
    intake = S3Intake.from_settings(prefix)
    results: dict[str, list[str]] = {"done": [], "quarantined": []}
    for sid, keys in intake.waiting(source_ids).items():
        outcome = source_outcome(sid)
        if outcome.status == "pending":
            continue
        for key in keys:
            intake.file_away(key, status=outcome.status, source_id=sid, reason=outcome.reason)
        results[outcome.status].append(sid)
    return results


def dispatch_sources(deployment: str, source_ids: list[str], *, batch_size: int = 1,
                     label: str = "", s3_prefix: str = "") -> list[str]:
    """One `process-sources` flow run per `batch_size` sources, for the work pool's workers.

    The idempotency key is the sorted source ids: handing the same files in twice makes
    no second run (and the lease would stop a second run anyway). With `s3_prefix`, the run
    files the sources' objects waiting under it away once it has finished them.
    """

    run_ids = []
    label = label or _stamp()
    for start in range(0, len(source_ids), batch_size):
        batch = source_ids[start:start + batch_size]
        parameters = {"source_ids": batch, "label": f"{label}-{start // batch_size}"}
        if s3_prefix:
            parameters["s3_prefix"] = s3_prefix
        run = run_deployment(
            deployment, parameters=parameters, timeout=0, as_subflow=False,
            idempotency_key="sources-" + "-".join(sorted(batch)),
        )
        run_ids.append(str(run.id))
    return run_ids


@flow(name="s3-intake", flow_run_name=lambda: f"s3-intake-{_stamp()}", log_prints=False)
def s3_intake_flow(prefix: str = "", max_objects: int = 50, claim_ttl_seconds: float = 900.0,
                   dispatch_to: str = "", batch_size: int = 1) -> State:
    """Objects under the prefix → letters; each moved to processed/ or quarantine/ once.

    With `dispatch_to` (a deployment, e.g. "process-sources/letters") the letters are handed
    to the work pool instead of being processed in this run: their objects wait in waiting/
    until the pool's run has finished them, and that run files them away.
    """
    prefix = prefix or get_settings().s3_intake_prefix
    # Objects whose sources were finished since they were set to wait (the net under the
    # pool's own filing, and the way for those recovery finished).
    results = file_away_finished(prefix)
    attempts = claim_objects(prefix, max_objects, claim_ttl_seconds)
    if not attempts:
        if any(results.values()):
            return _summary("s3 intake", results)
        return Completed(message="nothing new")
    registered = register_objects(prefix, list(attempts))
    sources = list(dict.fromkeys(registered.values()))
    todo = [sid for sid in sources if source_outcome(sid).status == "pending"]
    if todo and dispatch_to:
        # In waiting/ before the pool can take them, so the run finds them to file away.
        _merge(results, file_away_objects(prefix, registered, todo))
        dispatch_sources(dispatch_to, todo, batch_size=batch_size, label=f"s3-{_stamp()}",
                         s3_prefix=prefix)
    else:
        if todo:
            run_ingest(todo, label=f"s3-intake-{_stamp()}-{len(todo)}-files")
        _merge(results, file_away_objects(prefix, registered, []))
    _artifact("s3-intake", results, "Objects taken from the S3 prefix (source ids only).")
    return _summary("s3 intake", results)


# --- a batch of registered sources (what the work pool runs) ------------------------------


@flow(name="process-sources", flow_run_name="sources-{label}", log_prints=False)
def process_sources_flow(source_ids: list[str], label: str = "batch",
                         s3_prefix: str = "") -> dict[str, list[str]]:
    """Ingest registered sources under their leases; one another worker holds is left to it.

    With `s3_prefix` (handed over by the S3 poller), each finished source's objects waiting
    under it are filed to processed/ or quarantine/; if S3 is away just then, the poller's next
    run files them.
    """
    ingested, busy = run_ingest(source_ids, label=label)
    if s3_prefix:
        filed = file_away_finished(s3_prefix, source_ids, return_state=True)
        if not filed.is_completed():
            log.warning("could not file the objects of %s away (%s); the S3 poller will",
                        source_ids, filed.message)
    outcomes = {sid: source_outcome(sid).status for sid in ingested}
    not_finished = [sid for sid, status in outcomes.items() if status == "pending"]
    if not_finished:
        raise RuntimeError(f"{len(not_finished)} source(s) not finished: {not_finished}; "
                           "recovery will resume them")
    return {"ingested": ingested, "busy_elsewhere": busy}
