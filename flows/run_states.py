"""Marking flow runs of dead processes Crashed, so Prefect's UI stops showing them as running."""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterName,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Crashed
from sqlalchemy import select

from storage.db import session_scope
from storage.models import MailItem

log = logging.getLogger(__name__)


def crash_live_runs(client: Any, message: str, **filters: Any) -> list:
    """Mark every running, pending or cancelling flow run matching `filters` (keyword arguments
    of `read_flow_runs`; a `flow_run_filter` gets the state condition added) Crashed with
    `message`. `client` is a sync Prefect client. Returns the runs it marked (up to 200)."""
    runs_filter = filters.pop("flow_run_filter", None) or FlowRunFilter()
    runs_filter.state = FlowRunFilterState(type=FlowRunFilterStateType(
        any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]))
    # This client sends null limit/sort unless given, which the server refuses (3.8.8).
    runs = client.read_flow_runs(flow_run_filter=runs_filter, limit=200,
                                 sort=FlowRunSort.START_TIME_DESC, **filters)
    for run in runs:
        client.set_flow_run_state(run.id, Crashed(message=message), force=True)
    return runs


def crash_dead_letter_runs(source_ids: list[str]) -> int:
    """Mark the letter flow runs of these sources that Prefect still shows as Running Crashed.

    `ingest_flow` calls it first; it runs holding the sources' leases: nobody alive is
    working on them, so such a run belonged to a process that was killed. (A killed batch's
    own run is crashed by the automation for silent runs; its letters' runs send no
    heartbeats of their own.) Best effort: Prefect unreachable leaves them as they are.
    Returns how many were marked.
    """
    if not source_ids:
        return 0
    with session_scope() as session:
        item_ids = list(session.scalars(
            select(MailItem.id).where(MailItem.source_id.in_(source_ids))))
    if not item_ids:
        return 0
    try:
        names = FlowRunFilterName(any_=[f"letter-{item_id}" for item_id in item_ids])
        with get_client(sync_client=True) as client:
            crashed = len(crash_live_runs(
                client, "The process running this letter died; recovery resumed it.",
                flow_run_filter=FlowRunFilter(name=names)))
    except Exception as exc:  # the letters matter more than the run list
        log.warning("could not mark dead letter runs crashed (%s)", type(exc).__name__)
        return 0
    if crashed:
        log.info("marked %d letter run(s) of a dead process crashed", crashed)
    return crashed
