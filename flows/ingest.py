"""A batch of files: store → rasterise → split into letters → OCR all pages → each letter's flow."""

from __future__ import annotations

import logging

from prefect import allow_failure, flow, task
from prefect.artifacts import create_table_artifact
from prefect.futures import wait
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner

from config.settings import get_settings
from flows.mail_item import TASK_OPTIONS, mail_item_flow, ocr_page
from flows.run_states import crash_dead_letter_runs
from letters import batch, intake, pages
from storage.outages import is_outage

log = logging.getLogger(__name__)


@task(name="rasterise", task_run_name="rasterise-{source_id}", retries=1, **TASK_OPTIONS)
def rasterise(source_id: str) -> int:
    return len(intake.rasterise_source(source_id))


@task(name="split", task_run_name="split-{source_id}", **TASK_OPTIONS)
def split(source_id: str) -> list[str]:
    return intake.split_source(source_id)


@task(name="letter", task_run_name="letter-{item_id}", **TASK_OPTIONS)
def run_letter(item_id: str) -> None:
    """Each letter is its own flow run; one that crashes is held for a person, not lost.

    Called as a task so that a letter's routing, redaction, verification and PDFs share the
    batch's two-thread queue with the OCR of the next letters, while the batch's flow run
    stays their parent."""
    if batch.item_done(item_id):
        return
    # A sync subflow otherwise waits ≥1 s for its heartbeat thread; the parent flow beats.
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        state = mail_item_flow(item_id, return_state=True)
    if state.is_failed() or state.is_crashed():
        error = state.result(raise_on_failure=False)
        batch.mark_failed(item_id, outage=isinstance(error, BaseException) and is_outage(error))


@flow(name="ingest", flow_run_name="ingest-{label}",
      task_runner=ThreadPoolTaskRunner(max_workers=get_settings().ocr_workers))
def ingest_flow(source_ids: list[str], label: str = "batch") -> list[str]:
    """Callers hold the sources' leases (`intake.leases.lease_sources`): no live process is
    working on them, so letter runs Prefect still shows as running belong to a dead one."""
    crash_dead_letter_runs(source_ids)
    rendered = [rasterise.submit(source_id) for source_id in source_ids]
    wait(rendered)
    # A file whose rendering failed for a reason of its own was quarantined; one that failed
    # because something around it did (the blob store, the database) stays for recovery.
    ready = []
    for sid, future in zip(source_ids, rendered, strict=True):
        if future.state.is_completed():
            ready.append(sid)
            continue
        error = future.state.result(raise_on_failure=False)
        if isinstance(error, BaseException) and is_outage(error):
            try:  # so recovery does not count this run against the file
                intake.note_interrupted(sid)
            except Exception as exc:  # the database is what is down: the run still ends
                log.warning("could not note the outage for %s (%s)", sid, type(exc).__name__)
    item_ids = [item_id for source_id in ready for item_id in split(source_id)]
    # One queue for both cores: each letter's pages, and each letter's own flow one letter
    # later, once its pages are (nearly always) read. A letter's routing, redaction and PDFs
    # (Python, in this process) then run beside the next letter's Tesseract (a child
    # process) instead of all letters waiting for the last page of the batch. The queue is
    # first in, first out, so a letter's pages have always started before its flow does.
    letters, previous = [], None
    for item_id in item_ids:
        reads = [ocr_page.submit(page_id)
                 for page_id in pages.item_page_ids(item_id, only_missing_ocr=True)]
        if previous is not None:
            letters.append(run_letter.submit(previous[0], wait_for=previous[1]))
        previous = (item_id, [allow_failure(read) for read in reads])
    if previous is not None:
        letters.append(run_letter.submit(previous[0], wait_for=previous[1]))
    wait(letters)
    for source_id in ready:
        intake.finish_source(source_id)
    create_table_artifact(key="ingest-summary", table=batch.batch_summary(source_ids),
                          description="Letters in this batch (ids only, no personal details).")
    return item_ids
