"""The deployments Letterbridge runs: served by `letterbridge worker`, or deployed to a work pool.

Entrypoints are module paths (`flows.intake.hot_folder_flow`): every machine that runs a
flow has Letterbridge installed, so nothing is built, pushed or cloned — it works offline.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from prefect import get_client
from prefect.automations import Automation
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.schedules import Cron, Interval
from prefect.types.entrypoint import EntrypointType
from prefect.workers.process import ProcessWorker

from config.settings import Settings, get_settings
from flows.intake import hot_folder_flow, process_sources_flow, s3_intake_flow
from flows.outbox import notify_outbox_flow, outbox_has_work
from flows.print_batch import print_batch_flow
from flows.recovery import recover_flow
from flows.run_states import crash_live_runs
from intake.hot_folder import SETTLE_SECONDS, HotFolder, odd_entries, ready_now
from intake.leases import (
    RECOVER_EVERY_SECONDS,
    RECOVER_MIN_AGE_SECONDS,
    leased_source_ids,
    unfinished_source_ids,
)
from intake.s3 import S3Intake

log = logging.getLogger(__name__)

POOL = "letters"  # deployments are named after their pool: "process-sources/letters"


@dataclass(frozen=True)
class WorkerOptions:
    # The sensor looks at the folder / prefix this often (cheap, in the worker process) and
    # starts a run when something settled is waiting; a scheduled run every `every_seconds`
    # is the safety net. (A poll as a scheduled run costs a new process, ~3 s of CPU.)
    poll_seconds: float = 2.0
    every_seconds: float = 300.0
    # A file must go unchanged this long before it is taken (or carry a completion marker).
    settle_seconds: float = SETTLE_SECONDS
    require_marker: bool = False  # take only files a `<name>.done` / `.ready` marker vouches for
    # The lease proves a source is live, so an orphan is taken once a minute old (see
    # intake.leases): a dead worker's letters resume within one or two minutes.
    recover_every_seconds: float = RECOVER_EVERY_SECONDS
    recover_min_age_seconds: float = RECOVER_MIN_AGE_SECONDS
    # How often the worker looks for released letters whose email has not gone out (a query
    # in its own process; a sweep run starts only when one is owed).
    notify_every_seconds: float = 60.0
    dispatch_to: str = ""  # S3 poller hands letters to this pool deployment instead
    timezone: str = ""


def local_timezone() -> str:
    """The machine's IANA zone, so "0 6 * * *" means six in the morning where the printer is."""
    if os.environ.get("TZ", "").strip(":"):
        return os.environ["TZ"].strip(":")
    etc = Path("/etc/timezone")
    if etc.is_file() and etc.read_text().strip():
        return etc.read_text().strip()
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return "UTC"


def host_name() -> str:
    """This machine, as it appears in deployment names: the hot folder is a machine's own."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", socket.gethostname()).strip("-") or "worker"


def print_batch_dir(settings: Settings) -> Path:
    return settings.print_batch_dir or settings.home / "print-batches"


def served_deployments(settings: Settings | None = None,
                       options: WorkerOptions | None = None) -> list:
    """What `letterbridge worker` serves, from the settings that say which are on."""


    settings = settings or get_settings()
    options = options or WorkerOptions()
    common = {"entrypoint_type": EntrypointType.MODULE_PATH, "paused": False,
              "tags": ["letterbridge"]}
    deployments = []
    if settings.watch_enabled:
        if settings.watch_folder is None:
            raise ValueError("watch_enabled is on but watch_folder is not set")
        deployments.append(hot_folder_flow.to_deployment(
            name=host_name(), schedule=Interval(options.every_seconds),
            parameters={"folder": str(settings.watch_folder),
                        "settle_seconds": options.settle_seconds,
                        "require_marker": options.require_marker},
            description="Take settled files from the hot folder.", **common))
    if settings.s3_intake_enabled:
        deployments.append(s3_intake_flow.to_deployment(
            name=host_name(), schedule=Interval(options.every_seconds),
            parameters={"prefix": settings.s3_intake_prefix, "dispatch_to": options.dispatch_to},
            description="Take new objects from the S3 intake prefix.", **common))
    if settings.print_batch_enabled:

        deployments.append(print_batch_flow.to_deployment(
            name="daily",
            schedule=Cron(settings.print_batch_cron,
                          timezone=options.timezone or local_timezone()),
            parameters={"out_dir": str(print_batch_dir(settings)), "dated": True},
            description="Print approved replies into a new dated folder.", **common))
    # Started by the worker's recovery sensor when an unleased source is waiting (a query in
    # the worker's process every `recover_every_seconds`); the schedule is the net.
    deployments.append(recover_flow.to_deployment(
        name=host_name(),
        schedule=Interval(max(options.recover_every_seconds, options.every_seconds)),
        parameters={"min_age_seconds": options.recover_min_age_seconds},
        description="Resume sources a dead process left unfinished.", **common))
    # Started by the worker's outbox sensor when an email is owed; the schedule is the net.
    deployments.append(notify_outbox_flow.to_deployment(
        name=host_name(), schedule=Interval(options.every_seconds),
        description="Send every released letter's email that has not gone out yet.", **common))
    return deployments


def ensure_work_pool(name: str = POOL) -> bool:
    """Create a process work pool (what `prefect work-pool create NAME --type process` does).

    Returns True if it was created, False if it existed.
    """

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(WorkPoolCreate(
                name=name, type="process",
                base_job_template=ProcessWorker.get_default_base_job_template()))
        except ObjectAlreadyExists:
            return False
        return True


ZOMBIE_AUTOMATION = "letterbridge: crash flow runs that fell silent"


def ensure_zombie_automation(silent_seconds: int) -> bool:
    """A Prefect automation that marks a flow run Crashed when it stops sending heartbeats.

    A worker killed outright (SIGKILL, power cut, evicted container) cannot report its runs'
    end, so they would show as Running forever. Flow runs send a heartbeat event every
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (180 by default); a run that sent one and then
    neither another nor a final state within `silent_seconds` is crashed by the server. The
    letters themselves are resumed by the `recover` deployment. Returns True when created,
    False when it was there (its window is brought up to date).
    """


    trigger = EventTrigger(
        after={"prefect.flow-run.heartbeat"},
        expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed"},
        match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(seconds=silent_seconds),
    )
    action = ChangeFlowRunState(
        state=StateType.CRASHED,
        message=f"No heartbeat for {silent_seconds} s: the process running this flow died. "
                "Its letters are resumed by recovery.")
    try:
        existing = Automation.read(name=ZOMBIE_AUTOMATION)
    except ValueError:
        existing = None
    if existing is None:
        Automation(name=ZOMBIE_AUTOMATION, trigger=trigger, actions=[action],
                   description="Created by Letterbridge (flows/deployments.py).").create()
        return True
    if existing.trigger != trigger:
        existing.trigger = trigger
        existing.actions = [action]
        existing.update()
    return False


def deploy_to_pool(pool: str = POOL, *, recover_every_seconds: float = RECOVER_EVERY_SECONDS,
                   recover_min_age_seconds: float = RECOVER_MIN_AGE_SECONDS,
                   notify_every_seconds: float = 60.0,
                   source: Path | None = None) -> list[str]:
    """Deploy `process-sources` (and a scheduled `recover` and `notify-outbox`) to the pool.

    A pool worker is a plain `prefect worker start`, with no sensor of ours, so the outbox is
    swept on a schedule: a run (a new process, ~3 s of CPU) every `notify_every_seconds`.

    With `source` (the project folder, same path on every worker) the flows are loaded from
    that folder with `flow.from_source`; by default from the installed package.
    Returns the deployments' full names.
    """


    ensure_work_pool(pool)
    ensure_zombie_automation(get_settings().silent_run_seconds)
    if source is not None:
        process = process_sources_flow.from_source(
            source=str(source), entrypoint="flows/intake.py:process_sources_flow")
        recover = recover_flow.from_source(
            source=str(source), entrypoint="flows/recovery.py:recover_flow")
        outbox = notify_outbox_flow.from_source(
            source=str(source), entrypoint="flows/outbox.py:notify_outbox_flow")
        common: dict = {}
    else:
        process, recover, outbox = process_sources_flow, recover_flow, notify_outbox_flow
        common = {"entrypoint_type": EntrypointType.MODULE_PATH}
    deployments = [
        process.to_deployment(name=pool,
                              work_pool_name=pool, tags=["letterbridge"],
                              description="Ingest a batch of registered sources.", **common),
        recover.to_deployment(name=f"{pool}-recover", work_pool_name=pool, paused=False,
                              schedule=Interval(recover_every_seconds),
                              parameters={"min_age_seconds": recover_min_age_seconds},
                              tags=["letterbridge"],
                              description="Resume sources a dead worker left unfinished.",
                              **common),
        outbox.to_deployment(name=f"{pool}-notify", work_pool_name=pool, paused=False,
                             schedule=Interval(notify_every_seconds), tags=["letterbridge"],
                             description="Send every released letter's email that has not "
                                         "gone out yet.", **common),
    ]
    # What `prefect.deploy(..., build=False, push=False)` does, without its pre-flight worker
    # query: Prefect 3.8.8's sync client sends `limit: null` there, which this server refuses.
    for deployment in deployments:
        deployment.apply(work_pool_name=pool)
    return [f"{process_sources_flow.name}/{deployments[0].name}",
            f"{recover_flow.name}/{deployments[1].name}",
            f"{notify_outbox_flow.name}/{deployments[2].name}"]


def pool_deployment_name(pool: str = POOL) -> str:
    return f"process-sources/{pool}"


# --- the worker's helpers ------------------------------------------------------------------


class IntakeSensor(threading.Thread):
    """Starts a run of `deployment` when `has_work()` says something is waiting.

    Runs in the worker's own process: looking at a folder costs microseconds, a flow run a
    new process. Never starts a second run while its previous one is unfinished, so files
    arriving during a long batch wait for that batch to end, then go together.
    """

    def __init__(self, deployment: str, has_work: Callable[[], bool], *,
                 poll_seconds: float = 2.0) -> None:
        super().__init__(name=f"sensor-{deployment}", daemon=True)
        self.deployment = deployment
        self.has_work = has_work
        self.poll_seconds = poll_seconds
        self.stopped = threading.Event()
        self.triggered: list[str] = []

    def _busy(self, client) -> bool:  # a sync PrefectClient
        if not self.triggered:
            return False
        run = client.read_flow_run(self.triggered[-1])
        return run.state is not None and not run.state.is_final()

    def run(self) -> None:

        with get_client(sync_client=True) as client:
            while not self.stopped.wait(self.poll_seconds):
                try:
                    if not self.has_work() or self._busy(client):
                        continue
                    run = run_deployment(self.deployment, timeout=0, as_subflow=False,
                                         tags=["sensor"])
                    self.triggered.append(str(run.id))
                except ObjectNotFound:  # `serve` has not registered the deployment yet
                    continue
                except Exception:  # a sensor must outlive a server hiccup
                    log.exception("sensor for %s failed; trying again", self.deployment)
                    time.sleep(5)

    def stop(self) -> None:
        self.stopped.set()


def hot_folder_has_work(folder: Path, settle_seconds: float, *,
                        require_marker: bool = False) -> Callable[[], bool]:

    hot = HotFolder(folder)

    def check() -> bool:
        if ready_now(folder, settle_seconds, require_marker=require_marker):
            return True
        return hot.has_orphaned_claims() or bool(odd_entries(folder))

    return check


def outbox_sensor(poll_seconds: float) -> IntakeSensor:
    """Starts a `notify-outbox` run when a released letter still owes its email."""
    return IntakeSensor(f"{notify_outbox_flow.name}/{host_name()}", outbox_has_work,
                        poll_seconds=poll_seconds)


def recovery_sensor(every_seconds: float, min_age_seconds: float) -> IntakeSensor:
    """Starts a `recover` run when an unfinished source old enough is leased by nobody: an idle
    worker starts no process a minute, a dead process's letters wait at most a minute more."""

    def has_work() -> bool:
        orphans = unfinished_source_ids(min_age_seconds=min_age_seconds)
        return bool(orphans) and len(leased_source_ids(orphans)) < len(orphans)

    return IntakeSensor(f"{recover_flow.name}/{host_name()}", has_work,
                        poll_seconds=every_seconds)


def s3_has_work(prefix: str) -> Callable[[], bool]:

    intake = S3Intake.from_settings(prefix)
    return lambda: bool(intake.pending(limit=1, unclaimed_only=True))


def crash_orphaned_runs(deployment_names: list[str]) -> int:
    """Mark runs of this machine's deployments (and their subflows) still `Running` as Crashed.

    Called when a worker starts: a run "in progress" then belonged to a worker that died
    (SIGKILL, power cut) and would otherwise show as running forever in the UI.
    """


    message = "The worker running this flow died; a new worker resumed its letters."
    crashed = 0
    with get_client(sync_client=True) as client:
        ids = []
        for name in deployment_names:
            try:
                ids.append(client.read_deployment_by_name(name).id)
            except ObjectNotFound:
                continue
        if not ids:
            return 0
        runs = crash_live_runs(client, message,
                               deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)))
        while runs:  # and their subflows, level by level
            crashed += len(runs)
            runs = crash_live_runs(client, message, flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[r.id for r in runs])))
    return crashed


def unscheduled(deployment_names: list[str]) -> list[str]:
    """Which of these scheduled deployments have no upcoming run on the server.

    The server's scheduler creates runs ahead of time; none at all means it is not working
    (e.g. Prefect 3.8's scheduler under SQLAlchemy 2.1 fails on every loop), and the daily
    print batch would silently never happen.
    """

    missing = []
    with get_client(sync_client=True) as client:
        for name in deployment_names:
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                missing.append(name)
                continue
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                limit=1, sort=FlowRunSort.EXPECTED_START_TIME_ASC)
            if not runs:
                missing.append(name)
    return missing


def check_schedules_later(deployment_names: list[str], *, after_seconds: float = 60) -> None:
    """Warn (once, in the worker's log) if the server has not scheduled these deployments."""

    def check() -> None:
        time.sleep(after_seconds)
        try:
            missing = unscheduled(deployment_names)
        except Exception:  # a warning must not take the worker down
            log.exception("could not check the server's schedules")
            return
        if missing:
            log.error("the Prefect server scheduled no run for %s after %.0f s: its scheduler "
                      "is not working (see the server's log), so these will not run on time",
                      ", ".join(missing), after_seconds)

    threading.Thread(target=check, name="schedule-check", daemon=True).start()
