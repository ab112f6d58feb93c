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


def test_a_server_launched_without_waiting_is_waited_for_once_and_shared(
    lb_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a fresh data folder WHEN a command sets Prefect up without waiting (the ingest
    command, which imports and registers files meanwhile) THEN the API URL is known at once and
    the server is recorded, not answering yet; WHEN a second command asks for the folder's server
    meanwhile THEN it waits for that same server instead of starting another; WHEN the first
    waits THEN the server answers at that URL and is recorded; waiting again is a no-op."""
    import threading

    from config.settings import get_settings, reset_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.setenv("LETTERBRIDGE_PREFECT_LOCAL_SERVER", "true")
    reset_settings()
    other: dict[str, str] = {}
    try:
        runtime.configure_prefect_env(wait=False)
        url = os.environ["PREFECT_API_URL"]
        assert (lb_home / "prefect" / runtime.SERVER_FILE).exists()  # found while it starts
        assert runtime.running_local_server() is None  # but not answering yet
        second = threading.Thread(
            target=lambda: other.update(url=runtime.ensure_local_server(get_settings())))
        second.start()
        runtime.wait_for_local_server()
        second.join(timeout=120)
        info = runtime.running_local_server()
        assert info is not None and info["api_url"] == url == other["url"]
        runtime.wait_for_local_server()
        assert runtime.running_local_server()["pid"] == info["pid"]
    finally:
        runtime.wait_for_local_server()
        runtime.stop_local_server()


def test_init_starts_the_server_ahead_and_the_next_command_uses_it(
    lb_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a fresh data folder WHEN `letterbridge init` runs (its own process, which exits
    at once) THEN the folder's Prefect server is launched in the background; WHEN the next
    command needs Prefect THEN it uses that server (same process), waiting for the rest of its
    start rather than starting another; WHEN stopped THEN it is gone."""
    import subprocess
    import sys

    from config.settings import get_settings, reset_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.setenv("LETTERBRIDGE_PREFECT_LOCAL_SERVER", "true")
    reset_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    lb = str(Path(sys.executable).with_name("letterbridge"))
    try:
        subprocess.run([lb, "init"], env=env, check=True, capture_output=True, timeout=120)
        launched = runtime._recorded_server(get_settings())
        assert launched is not None
        runtime.configure_prefect_env()
        info = runtime.running_local_server()
        assert info is not None and info["pid"] == launched["pid"]
        assert os.environ["PREFECT_API_URL"] == launched["api_url"]
    finally:
        stopped = runtime.stop_local_server()
    assert stopped and runtime._recorded_server(get_settings()) is None


def test_a_new_folders_server_starts_on_a_copy_of_the_template_database(
    lb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN no template database WHEN a new data folder's server starts THEN its database is
    new, and a copy of it is left as the template; GIVEN that template WHEN a second new folder's
    server starts THEN its database is a copy of the template (no tables to create: a start in
    ~3 s instead of ~8), and the server answers and keeps flow runs."""
    from config.settings import reset_settings

    template = tmp_path / "share" / "prefect-template.db"
    monkeypatch.setattr(runtime, "template_path", lambda: template)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.setenv("LETTERBRIDGE_PREFECT_LOCAL_SERVER", "true")
    second_home = tmp_path / "second-home"
    started = []
    try:
        for home in (lb_home, second_home):
            monkeypatch.setenv("LETTERBRIDGE_HOME", str(home))
            monkeypatch.delenv("PREFECT_API_URL", raising=False)
            monkeypatch.delenv("PREFECT_HOME", raising=False)
            reset_settings()
            runtime.configure_prefect_env()
            started.append(runtime.running_local_server())
            runtime.stop_local_server()
    finally:
        for home in (lb_home, second_home):
            monkeypatch.setenv("LETTERBRIDGE_HOME", str(home))
            reset_settings()
            runtime.stop_local_server()
    assert [info["database"] for info in started] == ["new", "from the template"]
    assert template.is_file() and template.stat().st_size > 100_000
    copied = second_home / "prefect" / runtime.DATABASE_FILE
    import sqlite3

    with sqlite3.connect(copied) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"flow_run", "task_run", "alembic_version"} <= tables


def test_a_template_that_cannot_be_read_gives_a_new_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a template file that is not a database WHEN a new folder is seeded THEN nothing is
    put in the folder's place (the server makes a new database), and no error stops the command."""
    template = tmp_path / "broken.db"
    template.write_bytes(b"not a database" * 100)
    monkeypatch.setattr(runtime, "template_path", lambda: template)
    database = tmp_path / "home" / "prefect" / runtime.DATABASE_FILE
    assert runtime._seed_database(database) is False
    assert not database.exists()
    assert list(database.parent.glob("*.part")) == []


def test_prefects_temporary_server_also_starts_on_the_template(
    lb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a template database and the temporary server chosen (no local server, no
    PREFECT_API_URL) WHEN a command sets Prefect up THEN the data folder's Prefect database
    is a copy of the template before Prefect starts its temporary server on it."""
    import sqlite3

    from config.settings import reset_settings

    template = tmp_path / "template.db"
    with sqlite3.connect(template) as db:
        db.execute("create table alembic_version (version_num text)")
    monkeypatch.setattr(runtime, "template_path", lambda: template)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.setenv("LETTERBRIDGE_PREFECT_LOCAL_SERVER", "false")
    reset_settings()
    runtime.configure_prefect_env()
    copied = lb_home / "prefect" / runtime.DATABASE_FILE
    assert "PREFECT_API_URL" not in os.environ
    with sqlite3.connect(copied) as db:
        assert db.execute("select name from sqlite_master").fetchall() == [("alembic_version",)]
