"""`make demo`: generate sample letters and a roster, ingest them, export them, print what happened.

Everything lands in ./demo-out (data folder, exported letters, print batch) so a person can
open the files afterwards. Runs with the embedded defaults: SQLite, local blobs, Prefect's
temporary server (or the one named by PREFECT_API_URL).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Wide enough for ids and emails even when the output is not a terminal.
console = Console(width=150) if not sys.stdout.isatty() else Console()


def letterbridge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "letterbridge", *args]
    console.print(f"[dim]$ letterbridge {' '.join(args)}[/dim]")
    result = subprocess.run(command, env=env, check=False)
    return result


def main() -> int:
    root = Path.cwd() / "demo-out"
    if root.exists():
        shutil.rmtree(root)
    home, samples, export_dir = root / "data", root / "samples", root / "export"
    env = {**os.environ, "LETTERBRIDGE_HOME": str(home), "OMP_THREAD_LIMIT": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    os.environ.update({"LETTERBRIDGE_HOME": str(home)})

    from letterbridge.samples import make_demo_set

    console.rule("1. Sample mail and roster")
    demo = make_demo_set(samples)
    letters = [Path(p) for p in demo["letters"]]
    console.print(f"{len(letters)} scanned letters and a roster in {samples}")

    console.rule("2. Set up and import the roster")
    letterbridge("init", env=env)
    roster = demo["roster"]
    result = letterbridge("roster", "import", "--facilities", str(roster["facilities"]),
                          "--inmates", str(roster["inmates"]), "--volunteers",
                          str(roster["volunteers"]), "--matches", str(roster["matches"]), env=env)
    if result.returncode != 0:
        return result.returncode

    console.rule("3. Ingest the scans (Prefect flows)")
    result = letterbridge("ingest", *map(str, letters), "--label", "demo", env=env)
    if result.returncode != 0:
        return result.returncode

    console.rule("4. Export")
    letterbridge("export", "--out", str(export_dir), env=env)

    extra = _replies(env, export_dir, root)

    table = Table(title="Letterbridge demo: what happened to each letter")
    for column in ("letter", "source", "sender", "routed to", "status", "reasons"):
        table.add_column(column)
    for item_json in sorted(export_dir.glob("*/item.json")):
        doc = json.loads(item_json.read_text())
        sender = doc.get("sender") or {}
        table.add_row(doc["id"], ", ".join(doc["sources"]),
                      f"{sender.get('name', '')} {sender.get('inmate_number', '')}".strip() or "-",
                      doc["routed_to"] or "-", doc["status"], ", ".join(doc["review_reasons"]))
    console.print(table)
    console.print(f"Exported letters: {export_dir}")
    console.print(f"Data folder (database, blobs): {home}")
    for line in extra:
        console.print(line)
    console.print("See the letters in the browser: "
                  f"LETTERBRIDGE_HOME={home} .venv/bin/letterbridge serve")
    return 0


def _replies(env: dict[str, str], export_dir: Path, root: Path) -> list[str]:
    """Key in a reply to the first released letter, approve it, print the day's batch."""
    released = None
    for item_json in sorted(export_dir.glob("*/item.json")):
        doc = json.loads(item_json.read_text())
        if doc["status"] == "released" and doc["routed_to"]:
            released = doc
            break
    if released is None:
        return ["No letter was released automatically, so no reply was printed."]
    console.rule("5. A reply goes back on paper")
    reply_text = root / "reply.txt"
    reply_text.write_text(
        "Dear friend,\n\nThank you for your letter. It was good to hear about the garden and "
        "the books you are reading. Write again soon.\n\nWith warm wishes,\n"
    )
    result = letterbridge("replies", "add", "--item", released["id"], "--author",
                          released["routed_to"], "--text-file", str(reply_text), env=env)
    if result.returncode != 0:
        return ["(replies are not available in this build)"]
    letterbridge("replies", "approve", "--all", env=env)
    batch_dir = root / "print-batch"
    letterbridge("replies", "print-batch", "--out", str(batch_dir), env=env)
    return [f"Print batch (letters, envelopes or labels, manifest): {batch_dir}"]


if __name__ == "__main__":
    sys.exit(main())
