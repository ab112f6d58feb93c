"""One letter's journey, top to bottom: OCR → sender → roster → redact → verify → decide → notify."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from config.settings import get_settings
from letters import notifications, pages, redaction, release, routing

# Ids in, ids out: nothing to cache, nothing worth persisting (parameters are hashed and stored).
TASK_OPTIONS = {"cache_policy": NO_CACHE, "persist_result": False}


@task(name="ocr-page", task_run_name="ocr-page-{page_id}", retries=1, **TASK_OPTIONS)
def ocr_page(page_id: int) -> float:
    return pages.ocr_page(page_id)


@task(name="route", task_run_name="route-{item_id}", retries=2, retry_delay_seconds=[2, 10],
      **TASK_OPTIONS)
def route(item_id: str) -> str:
    return routing.route_item(item_id)


@task(name="redact", task_run_name="redact-{item_id}", retries=2, retry_delay_seconds=[2, 10],
      **TASK_OPTIONS)
def redact(item_id: str) -> list[int]:
    return redaction.find_redactions(item_id)


@task(name="verify-redaction", task_run_name="verify-page-{page_id}", retries=1, **TASK_OPTIONS)
def verify(page_id: int) -> bool:
    return redaction.verify_page(page_id)


@task(name="decide", task_run_name="decide-{item_id}", retries=2, retry_delay_seconds=[2, 10],
      **TASK_OPTIONS)
def decide(item_id: str) -> str:
    return release.decide(item_id)


@task(name="notify", task_run_name="notify-{item_id}", **TASK_OPTIONS)
def notify(item_id: str) -> bool:
    """One try: a mail server that is down leaves the email in the outbox, which the worker's
    notify-outbox flow sends later; the letter does not wait for it."""
    try:
        return notifications.notify(item_id)
    except Exception as exc:  # SMTP and network errors of every kind: the outbox keeps it
        get_run_logger().warning("email for letter %s stays in the outbox (%s)", item_id,
                                 type(exc).__name__)
        return False


def ocr_pages(page_ids: list[int]) -> None:
    """Pages in parallel (one Tesseract per core); a page that fails does not stop the others.

    A page the OCR engine cannot read is stored as such (`pages.ocr_page`); a page whose task
    failed (the blob store or the database went away) was not read at all, so the letter
    stops here once the others are done: its run fails and recovery runs it again, rather than
    routing and deciding it on pages nobody read."""
    reads = [ocr_page.submit(page_id) for page_id in page_ids]
    wait(reads)
    for read in reads:
        read.result()


@flow(name="mail-item", flow_run_name="letter-{item_id}", log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=get_settings().ocr_workers))
def mail_item_flow(item_id: str) -> str:
    ocr_pages(pages.item_page_ids(item_id, only_missing_ocr=True))
    route(item_id)
    to_verify = redact(item_id)
    checks = [verify.submit(page_id) for page_id in to_verify]
    wait(checks)
    for check in checks:  # a check that could not run is not a failed check: run it again
        check.result()
    status = decide(item_id)
    notify(item_id)
    return status
