"""A flow-run process told to stop (SIGTERM) hands its work back at once instead of dying silently.

A worker being stopped (`systemctl stop`, `letterbridge pool worker` passing the signal on, a
container being evicted) sends SIGTERM to the process running a flow. Left to itself, that
process would end its main thread but let its letters' threads run on after giving their leases
back, and leave its run "Running" until the server's silent-run automation crashes it.

While a process holds sources' leases (`flows.recovery.run_ingest`), SIGTERM instead:

1. marks the run handed back: a `process-sources` run of a work pool goes back to the pool's
   queue (Prefect's `AwaitingRetry`, what its own runner proposes when it reschedules a run),
   so the next free worker takes it within its poll; any other run, and its live subflows, are
   marked Crashed with a message saying recovery resumes them. A run being cancelled is
   marked Cancelled.
2. ends the process (and the OCR programs it started) at once. The operating system drops its
   leases; every step committed what it finished, so nothing half-done is kept, and the next
   run resumes from the recorded stages — the same path as a SIGKILL, minus the waiting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.context import FlowRunContext
from prefect.states import AwaitingRetry, Cancelled, Crashed
from prefect.utilities.engine import propose_state_sync

log = logging.getLogger(__name__)

POOL_FLOW = "process-sources"  # flows.intake.process_sources_flow (which imports us)
LIVE = {StateType.RUNNING, StateType.PENDING, StateType.CANCELLING}
HAND_BACK_SECONDS = 10.0  # the most the server may take to hear about it; then we go anyway
MESSAGE = ("Its process stopped (SIGTERM, or its worker died); its letters are resumed by "
           "recovery or the next run.")


def hand_back(client: Any, flow_run: Any, *, to_pool: bool) -> str:
    """Mark `flow_run` (a sync client's FlowRun) handed back and its live subflows Crashed.

    `to_pool`: the run is a work pool's batch, which goes back to the pool's queue; any
    other is Crashed. Returns the name of the state it was left in.
    """
    state = flow_run.state
    if state is not None and state.type == StateType.CANCELLING:
        final = Cancelled(message="Cancelled while processing; its letters are resumed by "
                                  "recovery.")
    elif to_pool and flow_run.deployment_id is not None:
        final = AwaitingRetry(message="Handed back to the work pool by a worker that was "
                                      "stopped (SIGTERM); the next free worker resumes it.")
    else:
        final = Crashed(message=MESSAGE)
    try:
        result = propose_state_sync(client, final, flow_run_id=flow_run.id)
    except Exception:  # refused (e.g. no retry from this state): crash it instead
        result = None
    if result is None or result.type != final.type:
        final = Crashed(message=MESSAGE)
        client.set_flow_run_state(flow_run.id, final, force=True)
    parents = [flow_run.id]
    while parents:  # its subflows (the batch's ingest run, each letter's run), level by level;
        # one Prefect already crashed may still have live children of its own
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parents)),
            limit=200, sort=FlowRunSort.START_TIME_DESC)
        for run in runs:
            if run.state is not None and run.state.type in LIVE:
                client.set_flow_run_state(run.id, Crashed(message=MESSAGE), force=True)
        parents = [run.id for run in runs]
    return final.name or final.type.value


def _hand_back_run(run_id: UUID, *, to_pool: bool) -> None:
    with get_client(sync_client=True) as client:
        left = hand_back(client, client.read_flow_run(run_id), to_pool=to_pool)
    log.warning("SIGTERM: flow run %s left %s; its sources' leases end with this process",
                run_id, left)


def _end_process() -> None:
    """End now. A process-group leader (a worker's flow-run process) takes its OCR children."""
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(128 + signal.SIGTERM)


@contextlib.contextmanager
def hand_back_on_sigterm(end: Callable[[], None] = _end_process) -> Iterator[None]:
    """For as long as this process holds leases: SIGTERM hands the run back and ends it.

    Only in the main thread of a flow run (where Python delivers signals); else a no-op.
    """
    context = FlowRunContext.get()
    if threading.current_thread() is not threading.main_thread() or context is None \
            or context.flow_run is None:
        yield
        return
    run_id, to_pool = context.flow_run.id, context.flow.name == POOL_FLOW

    def on_sigterm(signum: int, frame: object) -> None:
        # The report goes from a thread of its own: the main thread may be inside a lock
        # (logging, the HTTP pool) that the signal interrupted.
        reporter = threading.Thread(target=_safely(_hand_back_run, run_id, to_pool=to_pool),
                                    name="hand-back", daemon=True)
        reporter.start()
        reporter.join(HAND_BACK_SECONDS)
        end()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _safely(function: Callable[..., None], *args: Any, **kwargs: Any) -> Callable[[], None]:
    def run() -> None:
        try:
            function(*args, **kwargs)
        except Exception:  # the process ends either way; recovery still finds the letters
            log.exception("could not hand the flow run back before stopping")

    return run
