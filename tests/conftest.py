"""Shared fixtures: a fresh data folder per test, one Prefect server and one moto S3 server per run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Unit tests replay recorded OCR instead of running the engines (tests/ocr_replay.py).
pytest_plugins = ["ocr_replay"]

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# Tesseract gets one thread: two cores, many pages (see ../shared/PREFECT.md).
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Tests say which Prefect server they use; none starts the data folder's own in the background.
os.environ.setdefault("LETTERBRIDGE_PREFECT_LOCAL_SERVER", "false")
# The end-to-end tests of exactly-once, scale-out, intake and faults are about the flow, not the
# reader: they read with Tesseract alone (5 s less CPU an envelope). PP-OCR's own tests, and the
# end-to-end tests that are about reading and redaction, switch the second engine on
# (`second_engine` below).
os.environ.setdefault("LETTERBRIDGE_OCR_SECOND_ENGINE", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


# Markers of the tests that start servers, workers or a browser: the long ones.
LONG_MARKERS = frozenset({"slow", "prefect", "browser"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding long tests run first, each module kept whole and in its own order, so
    the two test workers (tools/run_tests.sh) finish together instead of one waiting on the
    last long module."""
    long_modules = {item.module.__name__ for item in items
                    if item.module is not None and LONG_MARKERS & {m.name for m in item.iter_markers()}}
    items.sort(key=lambda item: (item.module is None or item.module.__name__ not in long_modules))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except Exception as exc:  # still starting
            last = exc
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up: {last}")


@pytest.fixture
def lb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh LETTERBRIDGE_HOME with a migrated database (SQLite, or the test PostgreSQL)."""
    from config.settings import reset_settings
    from storage import blobs, db

    home = tmp_path / "lbhome"
    home.mkdir()
    monkeypatch.setenv("LETTERBRIDGE_HOME", str(home))
    monkeypatch.delenv("LETTERBRIDGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("LETTERBRIDGE_CONFIG", raising=False)
    monkeypatch.setenv("LETTERBRIDGE_BLOB_BACKEND", "local")
    reset_settings()
    db.dispose_engines()
    blobs._stores.clear()
    db.migrate()
    yield home
    db.dispose_engines()
    blobs._stores.clear()
    reset_settings()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One `prefect server start` for the whole run; flows in tests talk to it over HTTP."""
    existing = os.environ.get("LETTERBRIDGE_TEST_PREFECT_API_URL")
    if existing:
        os.environ["PREFECT_API_URL"] = existing
        yield existing
        return
    prefect_home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    log = (prefect_home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for_http(f"{api}/health", timeout=300)
        os.environ["PREFECT_API_URL"] = api
        os.environ["PREFECT_HOME"] = str(prefect_home)
        yield api
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's standalone S3 server: boto3 really speaks HTTP to it."""
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        wait_for_http(url, timeout=60)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, list]]:
    """A real SMTP server (aiosmtpd) that keeps every message it receives."""
    from aiosmtpd.controller import Controller

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield ("127.0.0.1", port, received)
    finally:
        controller.stop()


@pytest.fixture
def second_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow reads with both engines, as shipped (PP-OCR for envelopes and doubtful pages)."""
    from config.settings import reset_settings

    monkeypatch.setenv("LETTERBRIDGE_OCR_SECOND_ENGINE", "true")
    reset_settings()
