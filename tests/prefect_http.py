"""HTTP to the test session's Prefect server, with room for its busy moments.

The session's server keeps its database in SQLite: a write there may wait for another writer
up to Prefect's busy timeout (60 s), far longer than httpx's default of 5 s. A test's call
that times out would fail the test for the server's sake, not the code's."""

from __future__ import annotations

import httpx

prefect_http = httpx.Client(timeout=90.0)
