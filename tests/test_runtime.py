"""The Prefect server a data folder's commands share: started once, reused, stopped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows import runtime

pytestmark = pytest.mark.prefect


def test_the_first_command_starts_a_server_the_next_ones_reuse(
    lb_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a fresh data folder and no PREFECT_API_URL WHEN a command sets Prefect up THEN a
    server for the folder is started and answers; WHEN the next command does THEN it reuses the
    same server (same process), without waiting for a new one; WHEN stopped THEN it is gone."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.setenv("LETTERBRIDGE_PREFECT_LOCAL_SERVER", "true")
    from config.settings import reset_settings

    reset_settings()
    try:
        runtime.configure_prefect_env()
        first = runtime.running_local_server()
        assert first is not None and os.environ["PREFECT_API_URL"] == first["api_url"]
        assert os.environ["PREFECT_HOME"] == str(lb_home / "prefect")
        monkeypatch.delenv("PREFECT_API_URL")
        runtime.configure_prefect_env()
        assert runtime.running_local_server()["pid"] == first["pid"]
        assert os.environ["PREFECT_API_URL"] == first["api_url"]
    finally:
        stopped = runtime.stop_local_server()
    assert stopped and runtime.running_local_server() is None
