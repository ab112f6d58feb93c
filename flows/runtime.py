"""Prefect process settings Letterbridge wants before the first flow runs, and the local server.

With no `PREFECT_API_URL`, Prefect starts a temporary server inside every command (8–15 s each
time, and its runs vanish with it). Instead the first command starts one Prefect server for the
data folder, in the background, and every later command reuses it: a command then starts in
about a second, and every run stays visible in the Prefect UI. `letterbridge prefect-server
--stop` ends it; `LETTERBRIDGE_PREFECT_LOCAL_SERVER=false` goes back to the temporary server.

A new data folder's server would spend ~5 s of its ~8 s start creating Prefect's database
(bench/results/start.md). So its database starts as a copy of a template: a database a Prefect
server of the same version has already been started on, kept beside the installed packages
(`.venv/share/letterbridge/`). `make setup` builds it (`python -m flows.runtime`); where it is
missing, the first new folder's server leaves one behind for the next.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO

from config.settings import Settings, get_settings

log = logging.getLogger(__name__)

SERVER_FILE = "prefect-server.json"
DATABASE_FILE = "prefect.db"  # where Prefect keeps its SQLite database under PREFECT_HOME
START_TIMEOUT_SECONDS = 180


def configure_prefect_env(*, local_server: bool | None = None, wait: bool = True) -> None:
    """Defaults that matter on small machines; explicit environment wins.

    Call it before Prefect is imported (Prefect reads its settings then). With `wait=False` the
    data folder's server may still be starting when it returns (`ensure_local_server`): call
    `wait_for_local_server()` before the first flow runs.
    """
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
    if not os.environ.get("PREFECT_API_URL"):
        if wanted:
            os.environ["PREFECT_API_URL"] = ensure_local_server(settings, wait=wait)
        elif _own_database():
            # Prefect's temporary server keeps its database under PREFECT_HOME too: a new one
            # starts from the template as well.
            database = Path(os.environ["PREFECT_HOME"]) / DATABASE_FILE
            if not database.exists():
                _seed_database(database)
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


def _recorded_server(settings: Settings) -> dict | None:
    """The record of the data folder's server when its process is still a Prefect server
    (answering or still starting); None for no record, or one whose process has gone (its
    number may since belong to another program)."""
    try:
        info = json.loads(_record(settings).read_text())
        pid = int(info.get("pid", 0) or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if pid <= 0 or not _alive(pid):
        return None
    with contextlib.suppress(OSError):  # where /proc is readable: the process must be Prefect's
        if b"prefect" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    return info


def running_local_server(settings: Settings | None = None) -> dict | None:
    """The data folder's Prefect server ({"pid", "api_url", "ui_url"}) when it answers."""
    info = _recorded_server(settings or get_settings())
    if info is not None and _healthy(info.get("api_url", "")):
        return info
    return None


def _wait_for_starting_server(settings: Settings) -> dict | None:
    """A server an earlier command launched and did not wait for (`letterbridge init`), once
    it answers; None when there is none, or it died or did not answer in time."""
    info = _recorded_server(settings)
    if info is None:
        return None
    launched = float(info.get("launched", 0) or 0)
    deadline = launched + START_TIMEOUT_SECONDS
    while time.time() < deadline:
        if _healthy(info.get("api_url", "")):
            return info
        if _recorded_server(settings) is None:
            return None
        time.sleep(0.1)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def template_path() -> Path | None:
    """Where this Prefect version's template database is kept (None: Prefect not installed)."""
    try:
        prefect_version = version("prefect")  # without importing Prefect (1.3 s)
    except PackageNotFoundError:
        return None
    return Path(sys.prefix) / "share" / "letterbridge" / f"prefect-{prefect_version}.db"


def _own_database() -> bool:
    """True when Prefect keeps its database in the SQLite file under PREFECT_HOME (the default),
    not in one the environment names (a PostgreSQL server, another file)."""
    return not any(os.environ.get(name) for name in (
        "PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"))


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, even while a server writes to it (SQLite's
    backup, which takes what the write-ahead log holds too), put in place whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with contextlib.closing(sqlite3.connect(source)) as src, \
                contextlib.closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _seed_database(database: Path) -> bool:
    """Start a new folder's database as a copy of the template; False when there is none."""
    template = template_path()
    if template is None or not template.is_file():
        return False
    try:
        _copy_database(template, database)
    except (OSError, sqlite3.Error) as exc:  # a template that can't be read: a new database
        # (_copy_database puts nothing in the database's place unless the copy is whole)
        log.warning("Prefect's template database could not be copied (%s)", exc)
        return False
    return True


def _keep_as_template(database: Path) -> None:
    """Leave a just-started server's new database as the template (best effort)."""
    template = template_path()
    if template is None or template.exists():
        return
    try:
        _copy_database(database, template)
    except (OSError, sqlite3.Error) as exc:  # e.g. a read-only installation: no template
        log.info("no template of Prefect's database was kept (%s)", exc)


def _launch_server(folder: Path, log_file: Path) -> tuple[subprocess.Popen, str]:
    """Start a Prefect server for `folder` (PREFECT_HOME) in the background; its API URL, which
    answers once `_wait_until_healthy` returns."""
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(folder), "PREFECT_UI_ENABLED": "true",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start",
             "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command, not killed by its Ctrl-C
        )
    return process, f"http://127.0.0.1:{port}/api"


def _wait_until_healthy(process: subprocess.Popen, api_url: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _healthy(api_url):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise RuntimeError(f"the Prefect server did not start; see {log_file}")
        time.sleep(0.1)


def _start_server(folder: Path, log_file: Path) -> tuple[subprocess.Popen, str]:
    """A Prefect server for `folder` (PREFECT_HOME), in the background; its API URL once it
    answers."""
    process, api_url = _launch_server(folder, log_file)
    _wait_until_healthy(process, api_url, log_file)
    return process, api_url


@dataclass
class _Starting:
    """A data folder's server that has been launched and may not answer yet; its folder's
    server lock is held until it does (`_finish`), so a second command waits for this server
    instead of starting another."""

    settings: Settings
    lock: IO[str]
    process: subprocess.Popen
    api_url: str
    log_file: Path
    new: bool
    seeded: bool


# The server `ensure_local_server(wait=False)` launched and nobody has waited for yet.
_starting: _Starting | None = None


def _write_record(start: _Starting) -> None:
    """The server's record, written as it is launched: a later command finds the server while
    it still starts (`_wait_for_starting_server`) instead of starting a second one."""
    info = {"pid": start.process.pid, "api_url": start.api_url,
            "ui_url": start.api_url.removesuffix("/api"), "launched": time.time(),
            "database": "from the template" if start.seeded
            else "new" if start.new else "existing"}
    partial = _record(start.settings).with_suffix(".part")
    partial.write_text(json.dumps(info))
    partial.replace(_record(start.settings))


def _finish(start: _Starting) -> None:
    try:
        try:
            _wait_until_healthy(start.process, start.api_url, start.log_file)
        except RuntimeError:
            _record(start.settings).unlink(missing_ok=True)
            raise
        if start.new and not start.seeded:
            _keep_as_template(start.settings.home / "prefect" / DATABASE_FILE)
    finally:
        start.lock.close()  # and with it the lock


def ensure_local_server(settings: Settings | None = None, *, wait: bool = True) -> str:
    """The API URL of the data folder's Prefect server, started now if none answers.

    With `wait=False` a server that has to be started is only launched: the command goes on
    with its own start (imports, registering files) while the server starts, and
    `wait_for_local_server()` waits for it before anything talks to Prefect's API.
    """
    global _starting
    settings = settings or get_settings()
    folder = settings.home / "prefect"
    folder.mkdir(parents=True, exist_ok=True)
    lock = (folder / "server.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands at once start one server
        info = running_local_server(settings) or _wait_for_starting_server(settings)
        if info is not None:
            lock.close()
            return info["api_url"]
        database = folder / DATABASE_FILE
        new = _own_database() and not database.exists()
        seeded = new and _seed_database(database)
        log_file = settings.log_dir / "prefect-server.log"
        process, api_url = _launch_server(folder, log_file)
    except BaseException:
        lock.close()
        raise
    start = _Starting(settings, lock, process, api_url, log_file, new, seeded)
    _write_record(start)
    if wait:
        _finish(start)
    else:
        _starting = start
    return api_url


def wait_for_local_server() -> None:
    """Wait until the server `configure_prefect_env(wait=False)` launched answers (at once when
    none was launched). Raises RuntimeError when it did not start."""
    global _starting
    start, _starting = _starting, None
    if start is not None:
        _finish(start)


def leave_local_server_starting() -> None:
    """Let go of a server launched without waiting and not needed here after all: its lock goes,
    its record stays, so the folder's next command finds it (`_wait_for_starting_server`)."""
    global _starting
    start, _starting = _starting, None
    if start is not None:
        start.lock.close()


def build_template() -> Path | None:
    """Make this Prefect version's template database (what `make setup` runs): start a server
    on a database of its own, keep that database, stop the server."""
    template = template_path()
    if template is None or template.exists() or not _own_database():
        return template
    with tempfile.TemporaryDirectory(prefix="lb-prefect-template-") as tmp:
        folder = Path(tmp)
        process, _api = _start_server(folder, folder / "server.log")
        try:
            _copy_database(folder / DATABASE_FILE, template)
        finally:
            end_process(process)
    return template


def end_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """Ask a server process to stop; kill it when it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def launch_local_server(settings: Settings | None = None) -> None:
    """Start the data folder's Prefect server in the background, if it uses one and none runs,
    without waiting for it (`letterbridge init`): the folder's first command that needs it finds
    it started, or waits for the rest of its start. Best effort: that command starts it anyway."""
    settings = settings or get_settings()
    if os.environ.get("PREFECT_API_URL") or not settings.prefect_local_server:
        return
    try:
        ensure_local_server(settings, wait=False)
    except (OSError, RuntimeError) as exc:
        log.info("the Prefect server was not started ahead (%s)", exc)
    leave_local_server_starting()


def stop_local_server(settings: Settings | None = None) -> bool:
    """End the data folder's Prefect server, answering or still starting; False when none
    was running."""
    settings = settings or get_settings()
    info = _recorded_server(settings)
    _record(settings).unlink(missing_ok=True)
    if info is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(int(info["pid"]), signal.SIGTERM)
    return True


if __name__ == "__main__":
    # A speed-up only: set-up goes on without it (the first new folder's server leaves one).
    try:
        print(f"Prefect's template database: {build_template()}")  # noqa: T201 - make setup
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        print(f"No template of Prefect's database was made ({exc}); new data folders' "  # noqa: T201
              "servers start without one, ~5 s slower the first time.")
