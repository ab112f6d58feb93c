"""The deployments Letterbridge runs: served by `letterbridge worker`, or deployed to a work pool.

Entrypoints are module paths (`flows.intake.hot_folder_flow`): every machine that runs a
flow has Letterbridge installed, so nothing is built, pushed or cloned — it works offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from letterbridge.settings import Settings, get_settings

POOL = "letters"  # deployments are named after their pool: "process-sources/letters"


@dataclass(frozen=True)
class WorkerOptions:
    every_seconds: float = 15.0  # hot folder and S3 prefix polls
    settle_seconds: float = 2.0  # a file must stop growing this long before it is taken
    recover_every_seconds: float = 600.0
    recover_min_age_seconds: float = 600.0
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


def print_batch_dir(settings: Settings) -> Path:
    return settings.print_batch_dir or settings.home / "print-batches"


def served_deployments(settings: Settings | None = None,
                       options: WorkerOptions | None = None) -> list:
    """What `letterbridge worker` serves, from the settings that say which are on."""
    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType

    from flows.intake import hot_folder_flow, s3_intake_flow
    from flows.recovery import recover_flow

    settings = settings or get_settings()
    options = options or WorkerOptions()
    common = {"entrypoint_type": EntrypointType.MODULE_PATH, "paused": False,
              "tags": ["letterbridge"]}
    deployments = []
    if settings.watch_enabled:
        if settings.watch_folder is None:
            raise ValueError("watch_enabled is on but watch_folder is not set")
        deployments.append(hot_folder_flow.to_deployment(
            name="hot-folder", schedule=Interval(options.every_seconds),
            parameters={"folder": str(settings.watch_folder),
                        "settle_seconds": options.settle_seconds},
            description="Take settled files from the hot folder.", **common))
    if settings.s3_intake_enabled:
        deployments.append(s3_intake_flow.to_deployment(
            name="s3-intake", schedule=Interval(options.every_seconds),
            parameters={"prefix": settings.s3_intake_prefix, "dispatch_to": options.dispatch_to},
            description="Take new objects from the S3 intake prefix.", **common))
    if settings.print_batch_enabled:
        from flows.print_batch import print_batch_flow

        deployments.append(print_batch_flow.to_deployment(
            name="daily",
            schedule=Cron(settings.print_batch_cron,
                          timezone=options.timezone or local_timezone()),
            parameters={"out_dir": str(print_batch_dir(settings))},
            description="Print approved replies.", **common))
    deployments.append(recover_flow.to_deployment(
        name="recover", schedule=Interval(options.recover_every_seconds),
        parameters={"min_age_seconds": options.recover_min_age_seconds},
        description="Resume sources a dead process left unfinished.", **common))
    return deployments


def ensure_work_pool(name: str = POOL) -> bool:
    """Create a process work pool (what `prefect work-pool create NAME --type process` does).

    Returns True if it was created, False if it existed.
    """
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

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


def deploy_to_pool(pool: str = POOL, *, recover_every_seconds: float = 600.0,
                   recover_min_age_seconds: float = 600.0, source: Path | None = None) -> list[str]:
    """Deploy `process-sources` (and a scheduled `recover`) to the work pool.

    With `source` (the project folder, same path on every worker) the flows are loaded from
    that folder with `flow.from_source`; by default from the installed package.
    Returns the deployments' full names.
    """
    from prefect.deployments.runner import deploy
    from prefect.schedules import Interval
    from prefect.types.entrypoint import EntrypointType

    from flows.intake import process_sources_flow
    from flows.recovery import recover_flow

    ensure_work_pool(pool)
    if source is not None:
        process = process_sources_flow.from_source(
            source=str(source), entrypoint="flows/intake.py:process_sources_flow")
        recover = recover_flow.from_source(
            source=str(source), entrypoint="flows/recovery.py:recover_flow")
        common: dict = {}
    else:
        process, recover = process_sources_flow, recover_flow
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
    ]
    deploy(*deployments, work_pool_name=pool, build=False, push=False,
           print_next_steps_message=False, ignore_warnings=True)
    return [f"{process_sources_flow.name}/{deployments[0].name}",
            f"{recover_flow.name}/{deployments[1].name}"]


def pool_deployment_name(pool: str = POOL) -> str:
    return f"process-sources/{pool}"
