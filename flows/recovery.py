"""Resuming the work a dead process left behind: every unfinished source nobody holds a lease on.

The leases themselves (PostgreSQL advisory locks, or flocks beside the SQLite file) are in
`intake.leases`; "not finished and nobody holds its lease" means "orphaned", and the ingest
flow resumes it from each source's and item's recorded `stage`. The lease, not the age, proves
work is live, so recovery takes an orphan once it is a minute old; sources whose
`process-sources` run still waits in a work pool's queue are left to that run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prefect import flow, get_client
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.context import FlowRunContext

from flows.ingest import ingest_flow
from flows.shutdown import POOL_FLOW, hand_back, hand_back_on_sigterm
from intake.leases import RECOVER_MIN_AGE_SECONDS, lease_sources, unfinished_source_ids
from letters.intake import resume_or_give_up

log = logging.getLogger(__name__)


def run_ingest(source_ids: list[str], label: str, *,
               check: Callable[[list[str]], list[str]] | None = None,
               ) -> tuple[list[str], list[str]]:
    """Run `ingest_flow` (a subflow when called in a flow) on the sources we can lease.

    Returns (ingested here, left alone because another live process holds them).
    A failed ingest is not raised: callers look at each source's outcome instead. A SIGTERM
    while the leases are held hands the run back and ends the process (`flows.shutdown`).
    `check`, given the held sources, returns those to ingest (recovery's give-up rule).
    """
    with lease_sources(source_ids) as leased, hand_back_on_sigterm():
        held = check(leased) if leased and check is not None else leased
        if held:
            crash_dead_batch_runs(held)
            state = ingest_flow(held, label=label, return_state=True)
            if not state.is_completed():
                log.warning("ingest %s ended %s", label, state.type.value)
        return held, [sid for sid in source_ids if sid not in leased]


def crash_dead_batch_runs(held: list[str], *, started_before_seconds: float = 60.0) -> int:
    """Mark `process-sources` runs still shown Running whose sources we now hold Crashed.

    Called holding the leases on `held`: a live run would hold its sources' leases, so a run
    all of whose sources are in `held` and that started over a minute ago (long enough to have
    taken its leases) belongs to a dead worker. Without this it would show Running until the
    server's silent-run automation (10 minutes). Best effort; returns how many were marked.
    """
    context = FlowRunContext.get()
    own = context.flow_run.id if context and context.flow_run else None
    cutoff = datetime.now(UTC) - timedelta(seconds=started_before_seconds)
    mine = set(held)
    crashed = 0
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[POOL_FLOW])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(
                        any_=[StateType.RUNNING])),
                    start_time=FlowRunFilterStartTime(before_=cutoff)),
                sort=FlowRunSort.START_TIME_DESC, limit=200)
            for run in runs:
                sources = {str(s) for s in run.parameters.get("source_ids") or []}
                if run.id != own and sources and sources <= mine:
                    hand_back(client, run, to_pool=False)
                    crashed += 1
    except Exception as exc:  # the letters matter more than the run list
        log.warning("could not mark dead batch runs crashed (%s)", type(exc).__name__)
    if crashed:
        log.info("marked %d batch run(s) of a dead worker crashed", crashed)
    return crashed


def queued_source_ids(limit: int = 1000) -> set[str]:
    """Sources named by `process-sources` runs that wait for a pool worker (scheduled, late,
    handed back, pending): not orphans, their run will take them. Best effort: without an
    answer from the server, none (the leases still keep live work from being taken twice)."""
    queued: set[str] = set()
    try:
        with get_client(sync_client=True) as client:
            for offset in range(0, limit, 200):
                runs = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[POOL_FLOW])),
                    flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED,
                                                          StateType.PENDING]))),
                    sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200, offset=offset)
                for run in runs:
                    queued.update(str(s) for s in run.parameters.get("source_ids") or [])
                if len(runs) < 200:
                    break
    except Exception as exc:  # recovery must not stop for the run list
        log.warning("could not read the work pool's queue (%s)", type(exc).__name__)
    return queued


@flow(name="recover", flow_run_name="recover-{label}", log_prints=False)
def recover_flow(min_age_seconds: float = RECOVER_MIN_AGE_SECONDS,
                 label: str = "scheduled") -> list[str]:
    """Resume every orphaned source: not finished, nobody working on it, at least this old.

    `min_age_seconds` leaves a just-registered file to the run it was handed to (the leases
    keep live work from being taken); at a worker's start-up it is 0.
    """
    orphans = unfinished_source_ids(min_age_seconds=min_age_seconds)
    if orphans:
        queued = queued_source_ids()
        orphans = [sid for sid in orphans if sid not in queued]
    if not orphans:
        return []
    resumed, busy = run_ingest(orphans, label=f"recover-{label}", check=resume_or_give_up)
    create_table_artifact(
        key="recovered-sources",
        table=[{"source": sid, "action": "resumed" if sid in resumed else "in progress elsewhere"}
               for sid in orphans],
        description="Unfinished sources found by recovery (ids only).",
    )
    log.info("recovery resumed %d source(s); %d in progress elsewhere", len(resumed), len(busy))
    return resumed
