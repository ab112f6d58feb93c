"""Roster import from CSV: good rows load, bad rows are reported by line, re-import never duplicates."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from letterbridge.cli import app
from storage.db import session_scope
from storage.models import Facility, Inmate, Match, Volunteer


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def roster_files(tmp_path: Path) -> dict[str, Path]:
    return {
        "facilities": write(tmp_path / "facilities.csv", """
name,address_line,city,state,zip,system
FCI Example,PO Box 1000,Exampleville,PA,17001,federal
Example State Prison,1 Prison Rd,Sampletown,CA,90001,ca
"""),
        "inmates": write(tmp_path / "inmates.csv", """
inmate_number,name,facility
12345-678,John Q Sample,FCI Example
AB1234,Maria Ejemplo,Example State Prison
"""),
        "volunteers": write(tmp_path / "volunteers.csv", """
email,display_name
ana@example.org,Ana
Ben@Example.org,Ben
"""),
        "matches": write(tmp_path / "matches.csv", """
inmate_number,volunteer_email
12345-678,ana@example.org
AB1234,ben@example.org
"""),
    }


def counts() -> tuple[int, int, int, int]:
    with session_scope() as s:
        return tuple(s.scalar(select(func.count()).select_from(m))
                     for m in (Facility, Inmate, Volunteer, Match))


def invoke(files: dict[str, Path]):
    args = ["roster", "import"]
    for kind, path in files.items():
        args += [f"--{kind}", str(path)]
    return CliRunner().invoke(app, args)


def test_import_then_reimport_updates_without_duplicates(lb_home: Path, tmp_path: Path) -> None:
    """GIVEN roster CSVs WHEN imported twice, the second time with a changed name
    THEN rows are updated in place, never duplicated."""
    files = roster_files(tmp_path)
    result = invoke(files)
    assert result.exit_code == 0, result.output
    assert counts() == (2, 2, 2, 2)
    write(files["inmates"], """
inmate_number,name,facility
12345-678,John Quincy Sample,FCI Example
AB1234,Maria Ejemplo,Example State Prison
""")
    result = invoke(files)
    assert result.exit_code == 0, result.output
    assert "1 updated" in result.output
    assert counts() == (2, 2, 2, 2)
    with session_scope() as s:
        inmate = s.scalar(select(Inmate).where(Inmate.inmate_number == "12345-678"))
        assert inmate.name == "John Quincy Sample"
        assert inmate.facility.system == "federal"
        match = s.scalar(select(Match).where(Match.inmate_id == inmate.id))
        assert match.volunteer.email == "ana@example.org"


def test_bad_rows_reported_by_line_and_good_rows_still_load(lb_home: Path, tmp_path: Path) -> None:
    """GIVEN CSVs with an unknown facility, a missing name, a bad system and an unknown volunteer
    WHEN imported THEN each bad row is reported with its line number, the others load,
    and the command exits 1."""
    files = roster_files(tmp_path)
    write(files["facilities"], """
name,address_line,city,state,zip,system
FCI Example,PO Box 1000,Exampleville,PA,17001,federal
Nowhere Jail,1 Road,Town,TX,75001,texas-ish
""")
    write(files["inmates"], """
inmate_number,name,facility
12345-678,John Q Sample,FCI Example
99999-999,,FCI Example
AB1234,Maria Ejemplo,Unknown Facility
""")
    write(files["matches"], """
inmate_number,volunteer_email
12345-678,ana@example.org
12345-678,nobody@example.org
""")
    result = invoke(files)
    assert result.exit_code == 1
    out = result.output
    assert "facilities.csv line 3" in out
    assert "inmates.csv line 3" in out and "inmates.csv line 4" in out
    assert "matches.csv line 3" in out and "unknown volunteer_email" in out
    assert counts() == (1, 1, 2, 1)


def test_missing_columns_is_a_clear_error(lb_home: Path, tmp_path: Path) -> None:
    """GIVEN a volunteers file without the display_name column WHEN imported THEN the command
    names the missing column and exits 2 without importing anything."""
    path = write(tmp_path / "v.csv", "email\nana@example.org")
    result = CliRunner().invoke(app, ["roster", "import", "--volunteers", str(path)])
    assert result.exit_code == 2
    assert "display_name" in result.output
    assert counts() == (0, 0, 0, 0)
