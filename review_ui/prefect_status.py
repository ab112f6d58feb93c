"""Failed flow runs for the admin dashboard, read through Prefect's own client.

`prefect` is imported on the first dashboard view only (1.5 s), not when the app starts. The
client is built for the API URL in the environment at the time of the request, with a short
timeout; a small cache keeps the dashboard quick, and an unreachable server is a note, not an
error page.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

FAILED_STATES = ["FAILED", "CRASHED"]
CACHE_SECONDS = 30.0
TIMEOUT_SECONDS = 2.0


@dataclass
class FlowRunList:
    available: bool
    note: str = ""  # why the list is empty, for the admin
    runs: list[dict] = field(default_factory=list)


_cache: dict[str, tuple[float, FlowRunList]] = {}
_lock = threading.Lock()


def ui_base(api_url: str, prefect_ui_url: str) -> str:
    if prefect_ui_url:
        return prefect_ui_url.rstrip("/")
    return api_url.rstrip("/").removesuffix("/api")


def failed_flow_runs(prefect_ui_url: str = "", limit: int = 10) -> FlowRunList:
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api:
        return FlowRunList(False, "PREFECT_API_URL is not set, so flow runs can't be listed.")
    key = f"{api}|{prefect_ui_url}|{limit}"
    with _lock:
        cached = _cache.get(key)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
    result = _fetch(api, ui_base(api, prefect_ui_url), limit)
    with _lock:
        _cache[key] = (time.monotonic(), result)
    return result


def _fetch(api: str, ui: str, limit: int) -> FlowRunList:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    failed = FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType[name] for name in FAILED_STATES])))
    try:
        with SyncPrefectClient(api, httpx_settings={"timeout": TIMEOUT_SECONDS}) as client:
            # By when each run was due, not when it started: a run that failed or crashed
            # before starting has no start time, and must not drop below older failures.
            rows = client.read_flow_runs(flow_run_filter=failed,
                                         sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
    except (httpx.HTTPError, OSError, RuntimeError, ValueError):
        return FlowRunList(False, "The Prefect server did not answer; try again later.")
    runs = [
        {
            "id": str(row.id),
            "name": row.name,
            "state": row.state_name or (row.state.name if row.state else ""),
            "when": _when(row.start_time or row.expected_start_time),
            "url": f"{ui}/runs/flow-run/{row.id}",
        }
        for row in rows
    ]
    return FlowRunList(True, "", runs)


def _when(moment: datetime | None) -> datetime | None:
    """The run's moment as the app keeps moments: naive UTC (the page names the zone)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def clear_cache() -> None:
    with _lock:
        _cache.clear()
