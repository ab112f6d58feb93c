"""The daily print batch as a Prefect flow: one task builds it, a table artifact lists ids."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from postal.print_batch import batch_rows, build_print_batch
from storage.db import session_scope


@task(name="build-print-batch", cache_policy=NO_CACHE, persist_result=False)
def build_batch(out_dir: str, actor: str) -> dict | None:
    """Returns the batch id and its rows (reply id, facility, pages): nothing personal."""
    with session_scope() as session:
        batch = build_print_batch(session, Path(out_dir), actor=actor)
        if batch is None:
            return None
        return {"batch_id": batch.id, "rows": batch_rows(session, batch.id)}


@flow(name="print-batch", flow_run_name="print-batch")
def print_batch_flow(out_dir: str, actor: str = "system") -> str | None:
    """Print approved replies into `out_dir`; the batch id, or None when nothing was approved."""
    built = build_batch(out_dir, actor)
    if built is None:
        create_table_artifact(key="print-batch", table=[],
                              description="Nothing to print: no approved replies.")
        return None
    create_table_artifact(
        key="print-batch",
        table=built["rows"],
        description=f"Print batch {built['batch_id']}: {len(built['rows'])} letters "
                    "(reply ids only; names are in manifest.csv).",
    )
    return built["batch_id"]
