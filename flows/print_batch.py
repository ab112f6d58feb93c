"""The daily print batch as a Prefect flow: one task builds it, a table artifact lists ids."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from postal.print_batch import batch_rows, build_print_batch
from storage.db import session_scope


def dated_folder(parent: Path) -> Path:
    """A new folder name under `parent` for one batch: local date and time, never one in use.

    The scheduled batch runs unattended every day: writing into one fixed folder would replace
    a batch nobody has printed yet (a long weekend) with the next one, and its letters, already
    marked printed, would never reach paper."""
    stamp = f"{datetime.now().astimezone():%Y-%m-%d-%H%M}"
    folder, n = parent / stamp, 1
    while folder.exists():
        n += 1
        folder = parent / f"{stamp}-{n}"
    return folder


@task(name="build-print-batch", cache_policy=NO_CACHE, persist_result=False)
def build_batch(out_dir: str, actor: str, *, dated: bool = False) -> dict | None:
    """Returns the batch id, its folder and rows (reply id, facility, pages): nothing personal."""
    target = dated_folder(Path(out_dir)) if dated else Path(out_dir)
    with session_scope() as session:
        batch = build_print_batch(session, target, actor=actor)
        if batch is None:
            return None
        return {"batch_id": batch.id, "folder": str(target),
                "rows": batch_rows(session, batch.id)}


@flow(name="print-batch", flow_run_name="print-batch")
def print_batch_flow(out_dir: str, actor: str = "system", *, dated: bool = False) -> str | None:
    """Print approved replies into `out_dir` (with `dated`, into a new dated folder inside it,
    as the daily schedule does); the batch id, or None when nothing was approved."""
    built = build_batch(out_dir, actor, dated=dated)
    if built is None:
        create_table_artifact(key="print-batch", table=[],
                              description="Nothing to print: no approved replies.")
        return None
    create_table_artifact(
        key="print-batch",
        table=built["rows"],
        description=f"Print batch {built['batch_id']} in {built['folder']}: "
                    f"{len(built['rows'])} letters (reply ids only; names are in manifest.csv).",
    )
    return built["batch_id"]
