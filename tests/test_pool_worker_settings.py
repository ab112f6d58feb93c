"""`letterbridge pool worker` hands its flow runs the settings of the shell it was started in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import flows.pool_worker
from config.settings import reset_settings
from letterbridge.cli import app

READ_SETTINGS = ("import json; from config.settings import get_settings; s = get_settings(); "
                 "print(json.dumps({'home': str(s.home), 'db': s.effective_database_url}))")


def test_a_pool_workers_runs_read_the_settings_of_the_folder_it_was_started_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a worker machine's settings in `./.letterbridge/letterbridge.toml`, as the README's
    Configuration says, and no LETTERBRIDGE_HOME in the environment
    WHEN `letterbridge pool worker` starts Prefect's worker, whose process worker starts each
    flow run in a new temporary folder
    THEN a flow run started there reads that settings file (PostgreSQL, not a throwaway SQLite
    database in the temporary folder), and the worker says which file its runs use."""
    machine = tmp_path / "worker-1"
    (machine / ".letterbridge").mkdir(parents=True)
    (machine / ".letterbridge" / "letterbridge.toml").write_text(
        'database_url = "postgresql+psycopg://letterbridge@db.invalid/letterbridge"\n')
    run_dir = tmp_path / "tmp-prefect-run"
    run_dir.mkdir()
    for name in ("LETTERBRIDGE_HOME", "LETTERBRIDGE_CONFIG", "LETTERBRIDGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.chdir(machine)
    seen: list[dict] = []

    def a_flow_run_in_a_temporary_folder(pool: str, **_: object) -> int:
        # What Prefect's process worker does: this environment, a fresh working folder.
        result = subprocess.run([sys.executable, "-c", READ_SETTINGS], cwd=run_dir,
                                capture_output=True, text=True, check=True)
        seen.append(json.loads(result.stdout))
        return 0

    monkeypatch.setattr(flows.pool_worker, "run_pool_worker", a_flow_run_in_a_temporary_folder)
    reset_settings()
    try:
        result = CliRunner().invoke(app, ["pool", "worker", "--pool", "letters"],
                                    catch_exceptions=False)
    finally:
        reset_settings()
    assert result.exit_code == 0, result.output
    assert seen == [{"home": str(machine / ".letterbridge"),
                     "db": "postgresql+psycopg://letterbridge@db.invalid/letterbridge"}]
    assert str(machine / ".letterbridge" / "letterbridge.toml") in result.output.replace("\n", "")
