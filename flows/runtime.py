"""Prefect process settings Letterbridge wants before the first flow runs, and the local server.

With no `PREFECT_API_URL`, Prefect starts a temporary server inside every command (8–15 s each
time, and its runs vanish with it). Instead the first command starts one Prefect server for the
data folder, in the background, and every later command reuses it: a command then starts in
about a second, and every run stays visible in the Prefect UI. `letterbridge prefect-server
--stop` ends it; `LETTERBRIDGE_PREFECT_LOCAL_SERVER=false` goes back to the temporary server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config.settings import Settings, get_settings

SERVER_FILE = "prefect-server.json"
START_TIMEOUT_SECONDS = 180


def configure_prefect_env(*, local_server: bool | None = None) -> None:
    """Defaults that matter on small machines; explicit environment wins."""
    settings = get_settings()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    # The progress bar is what a person watches; flow logs stay in the Prefect UI.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # Tesseract runs as a child process per page: one thread each, one per core.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    if not os.environ.get("PREFECT_HOME"):
        os.environ["PREFECT_HOME"] = str(settings.home / "prefect")
    wanted = settings.prefect_local_server if local_server is None else local_server
    if not os.environ.get("PREFECT_API_URL") and wanted:
        os.environ["PREFECT_API_URL"] = ensure_local_server(settings)
    os.environ.setdefault("PREFECT_UI_ENABLED",
                          "true" if os.environ.get("PREFECT_API_URL") else "false")


def _healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record(settings: Settings) -> Path:
    return settings.home / "prefect" / SERVER_FILE


def running_local_server(settings: Settings | None = None) -> dict | None:
    """The data folder's Prefect server ({"pid", "api_url", "ui_url"}) when it answers."""
    path = _record(settings or get_settings())
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if _alive(int(info.get("pid", 0) or 0)) and _healthy(info.get("api_url", "")):
        return info
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_local_server(settings: Settings | None = None) -> str:
    """The API URL of the data folder's Prefect server, started now if none answers."""
    settings = settings or get_settings()
    folder = settings.home / "prefect"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "server.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands at once start one server
        info = running_local_server(settings)
        if info is not None:
            return info["api_url"]
        port = _free_port()
        env = {**os.environ, "PREFECT_HOME": str(folder), "PREFECT_UI_ENABLED": "true",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
        env.pop("PREFECT_API_URL", None)
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        with (settings.log_dir / "prefect-server.log").open("ab") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).with_name("prefect")), "server", "start",
                 "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives this command, not killed by its Ctrl-C
            )
        api_url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _healthy(api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                raise RuntimeError("the Prefect server did not start; see "
                                   f"{settings.log_dir / 'prefect-server.log'}")
            time.sleep(0.25)
        info = {"pid": process.pid, "api_url": api_url, "ui_url": f"http://127.0.0.1:{port}"}
        _record(settings).write_text(json.dumps(info))
        return api_url


def stop_local_server(settings: Settings | None = None) -> bool:
    """End the data folder's Prefect server; False when none was running."""
    settings = settings or get_settings()
    info = running_local_server(settings)
    _record(settings).unlink(missing_ok=True)
    if info is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(int(info["pid"]), signal.SIGTERM)
    return True
