"""Prefect process settings Letterbridge wants before the first flow runs."""

from __future__ import annotations

import os


def configure_prefect_env() -> None:
    """Defaults that matter on small machines (see shared/PREFECT.md); explicit env wins."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    # The progress bar is what a person watches; flow logs stay in the Prefect UI.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false" if not os.environ.get("PREFECT_API_URL")
                          else os.environ.get("PREFECT_UI_ENABLED", "true"))
    # Tesseract runs as a child process per page: one thread each, one per core.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    if not os.environ.get("PREFECT_HOME"):
        from config.settings import get_settings

        os.environ["PREFECT_HOME"] = str(get_settings().home / "prefect")
