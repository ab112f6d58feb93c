"""Resuming the work a dead process left behind: every unfinished source nobody holds a lease on.

The leases themselves (PostgreSQL advisory locks, or flocks beside the SQLite file) are in
`intake.leases`; "not finished and nobody holds its lease" means "orphaned", and the ingest
flow resumes it from each source's and item's recorded `stage`.
"""

from __future__ import annotations

import logging

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.ingest import ingest_flow
from intake.leases import lease_sources, unfinished_source_ids

log = logging.getLogger(__name__)


def run_ingest(source_ids: list[str], label: str) -> tuple[list[str], list[str]]:
    """Run `ingest_flow` (a subflow when called in a flow) on the sources we can lease.

    Returns (ingested here, left alone because another live process holds them).
    A failed ingest is not raised: callers look at each source's outcome instead.
    """
    with lease_sources(source_ids) as held:
        if held:
            state = ingest_flow(held, label=label, return_state=True)
            if not state.is_completed():
                log.warning("ingest %s ended %s", label, state.type.value)
        return held, [sid for sid in source_ids if sid not in held]


@flow(name="recover", flow_run_name="recover-{label}", log_prints=False)
def recover_flow(min_age_seconds: float = 600.0, label: str = "scheduled") -> list[str]:
    """Resume every orphaned source: not finished, nobody working on it, at least this old.

    `min_age_seconds` keeps a scheduled recovery from taking files that were just handed to
    the work pool and wait for a worker; at a worker's start-up it is 0.
    """
    orphans = unfinished_source_ids(min_age_seconds=min_age_seconds)
    if not orphans:
        return []
    resumed, busy = run_ingest(orphans, label=f"recover-{label}")
    create_table_artifact(
        key="recovered-sources",
        table=[{"source": sid, "action": "resumed" if sid in resumed else "in progress elsewhere"}
               for sid in orphans],
        description="Unfinished sources found by recovery (ids only).",
    )
    log.info("recovery resumed %d source(s); %d in progress elsewhere", len(resumed), len(busy))
    return resumed
