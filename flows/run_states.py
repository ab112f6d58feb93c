"""Marking flow runs of dead processes Crashed, so Prefect's UI stops showing them as running."""

from __future__ import annotations

from typing import Any


def crash_live_runs(client: Any, message: str, **filters: Any) -> list:  # noqa: ANN401
    """Mark every running, pending or cancelling flow run matching `filters` (keyword arguments
    of `read_flow_runs`; a `flow_run_filter` gets the state condition added) Crashed with
    `message`. `client` is a sync Prefect client. Returns the runs it marked (up to 200)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Crashed

    runs_filter = filters.pop("flow_run_filter", None) or FlowRunFilter()
    runs_filter.state = FlowRunFilterState(type=FlowRunFilterStateType(
        any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]))
    # This client sends null limit/sort unless given, which the server refuses (3.8.8).
    runs = client.read_flow_runs(flow_run_filter=runs_filter, limit=200,
                                 sort=FlowRunSort.START_TIME_DESC, **filters)
    for run in runs:
        client.set_flow_run_state(run.id, Crashed(message=message), force=True)
    return runs
