"""Failed flow runs for the admin dashboard, asked of Prefect's REST API; silent when it is away.

The web app talks HTTP to the API instead of importing `prefect` (1.5 s and much memory
for one list); a short timeout and a small cache keep the dashboard quick when it is down.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

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
    body = {
        "flow_runs": {"state": {"type": {"any_": FAILED_STATES}}},
        "sort": "START_TIME_DESC",
        "limit": limit,
    }
    try:
        response = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        rows = response.json()
    except (httpx.HTTPError, ValueError):
        return FlowRunList(False, "The Prefect server did not answer; try again later.")
    runs = [
        {
            "id": row.get("id", ""),
            "name": row.get("name", ""),
            "state": (row.get("state") or {}).get("name") or row.get("state_name") or "",
            "when": (row.get("start_time") or row.get("expected_start_time") or "")[:16].replace(
                "T", " "
            ),
            "url": f"{ui}/runs/flow-run/{row.get('id', '')}",
        }
        for row in rows
    ]
    return FlowRunList(True, "", runs)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
