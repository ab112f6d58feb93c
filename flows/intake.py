"""Unattended intake as Prefect flows: the hot folder, the S3 prefix, and one batch of sources.

Each run: take what was dropped (an atomic claim), register it (SHA-256: the same bytes are
one source, whoever registers them), ingest what is not finished under a lease, then file
each original away by its outcome. A run killed anywhere in between leaves a claim the next
run takes over; registration and ingest resume from what the database recorded.
"""

from __future__ import annotations

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
from intake.sources import MAX_ATTEMPTS, Outcome, source_outcome

# Ids and paths in, ids out: nothing worth caching or persisting (see shared/PREFECT.md).
TASK_OPTIONS = {"cache_policy": NO_CACHE, "persist_result": False}
RETRY = {"retries": 2, "retry_delay_seconds": [2, 10]}


def _stamp() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}"


def _summary(state: str, results: dict[str, list[str]]) -> State:
    counts = {k: len(v) for k, v in results.items()}
    if results.get("pending"):
        return Failed(message=f"{counts['pending']} file(s) not finished; the next run retries "
                              f"them ({counts})", data=counts)
    return Completed(message=f"{state}: {counts}", data=counts)


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
        return Completed(message="nothing new")
    results: dict[str, list[str]] = {"done": [], "quarantined": [], "pending": []}
    try:
        registered = {c.name: register_files(folder, c.name, c.attempt) for c in claims}
        sources = list(dict.fromkeys(s for r in registered.values() for s in r.values()))
        todo = [sid for sid in sources if source_outcome(sid).status == "pending"]
        if todo:
            run_ingest(todo, label=f"hot-folder-{_stamp()}-{len(todo)}-files")
        for c in claims:
            result = file_away(folder, c.name, c.attempt, registered[c.name])
            for outcome in results:
                results[outcome] += getattr(result, outcome)
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
def file_away_objects(prefix: str, registered: dict[str, str], attempts: dict[str, int],
                      dispatched: list[str]) -> dict[str, list[str]]:
    intake = S3Intake.from_settings(prefix)
    results: dict[str, list[str]] = {"done": [], "quarantined": [], "pending": [],
                                     "dispatched": []}
    for key, sid in registered.items():
        if sid in dispatched:
            intake.file_away(key, status="dispatched", source_id=sid)
            results["dispatched"].append(sid)
            continue
        outcome = source_outcome(sid)
        if outcome.status == "pending" and attempts[key] >= MAX_ATTEMPTS:
            outcome = Outcome(
                "quarantined", f"processing failed {attempts[key]} times (source {sid}); the "
                "failed flow runs in the Prefect UI say why. Upload the object again to retry.")
        if outcome.status == "pending":
            results["pending"].append(sid)  # the claim expires and a later poll retries it
            continue
        intake.file_away(key, status=outcome.status, source_id=sid, reason=outcome.reason)
        results[outcome.status].append(sid)
    return results


def dispatch_sources(deployment: str, source_ids: list[str], *, batch_size: int = 1,
                     label: str = "") -> list[str]:
    """One `process-sources` flow run per `batch_size` sources, for the work pool's workers.

    The idempotency key is the sorted source ids: handing the same files in twice makes
    no second run (and the lease would stop a second run anyway).
    """

    run_ids = []
    label = label or _stamp()
    for start in range(0, len(source_ids), batch_size):
        batch = source_ids[start:start + batch_size]
        run = run_deployment(
            deployment, parameters={"source_ids": batch, "label": f"{label}-{start // batch_size}"},
            timeout=0, as_subflow=False, idempotency_key="sources-" + "-".join(sorted(batch)),
        )
        run_ids.append(str(run.id))
    return run_ids


@flow(name="s3-intake", flow_run_name=lambda: f"s3-intake-{_stamp()}", log_prints=False)
def s3_intake_flow(prefix: str = "", max_objects: int = 50, claim_ttl_seconds: float = 900.0,
                   dispatch_to: str = "", batch_size: int = 1) -> State:
    """Objects under the prefix → letters; each moved to processed/ or quarantine/ once.

    With `dispatch_to` (a deployment, e.g. "process-sources/letters") the letters are handed
    to the work pool instead of being processed in this run.
    """
    prefix = prefix or get_settings().s3_intake_prefix
    attempts = claim_objects(prefix, max_objects, claim_ttl_seconds)
    if not attempts:
        return Completed(message="nothing new")
    registered = register_objects(prefix, list(attempts))
    sources = list(dict.fromkeys(registered.values()))
    todo = [sid for sid in sources if source_outcome(sid).status == "pending"]
    dispatched: list[str] = []
    if todo and dispatch_to:
        dispatch_sources(dispatch_to, todo, batch_size=batch_size, label=f"s3-{_stamp()}")
        dispatched = todo
    elif todo:
        run_ingest(todo, label=f"s3-intake-{_stamp()}-{len(todo)}-files")
    results = file_away_objects(prefix, registered, attempts, dispatched)
    _artifact("s3-intake", results, "Objects taken from the S3 prefix (source ids only).")
    return _summary("s3 intake", results)


# --- a batch of registered sources (what the work pool runs) ------------------------------


@flow(name="process-sources", flow_run_name="sources-{label}", log_prints=False)
def process_sources_flow(source_ids: list[str], label: str = "batch") -> dict[str, list[str]]:
    """Ingest registered sources under their leases; one another worker holds is left to it."""
    ingested, busy = run_ingest(source_ids, label=label)
    outcomes = {sid: source_outcome(sid).status for sid in ingested}
    not_finished = [sid for sid, status in outcomes.items() if status == "pending"]
    if not_finished:
        raise RuntimeError(f"{len(not_finished)} source(s) not finished: {not_finished}; "
                           "recovery will resume them")
    return {"ingested": ingested, "busy_elsewhere": busy}
