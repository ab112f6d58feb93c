"""Running it for real: `letterbridge worker`, `letterbridge recover`, `letterbridge pool …`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)
out = Console()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("recover")(recover)
    pool = typer.Typer(help="Scale out: a Prefect work pool whose workers share PostgreSQL and S3.",
                       no_args_is_help=True)
    pool.command("deploy")(pool_deploy)
    pool.command("submit")(pool_submit)
    pool.command("worker")(pool_worker)
    app.add_typer(pool, name="pool")


def _need_server(what: str) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        console.print(
            f"[red]{what} needs a Prefect server[/red] (the temporary one runs no schedules and "
            "no work pools). Start one and point Letterbridge at it:\n"
            "  .venv/bin/prefect server start --host 127.0.0.1 --port 4200 &\n"
            "  export PREFECT_API_URL=http://127.0.0.1:4200/api")
        raise typer.Exit(2)


def worker(
    poll: Annotated[float, typer.Option(
        help="Seconds between looks at the hot folder and S3 prefix (cheap, in this process).")]
    = 2.0,
    every: Annotated[float, typer.Option(
        help="Seconds between scheduled intake runs (a safety net behind the poll).")] = 300.0,
    settle: Annotated[float, typer.Option(  # intake.hot_folder.SETTLE_SECONDS (not imported
        # here: every command would pay for the import)
        help="A file must go unchanged this many seconds before it is taken, unless a "
             "<name>.done or <name>.ready marker says it is complete. A PDF, JPEG or PNG "
             "that ends as a whole file of its kind needs only 2 s.")] = 10.0,
    require_marker: Annotated[bool, typer.Option(  # noqa: FBT002
        "--require-marker", help="Take only hot-folder files a <name>.done or <name>.ready "
        "marker says are complete (for writers that pause longer than --settle).")] = False,
    limit: Annotated[int, typer.Option(help="Flow runs at once in this worker.")] = 2,
    recover_every: Annotated[float, typer.Option(  # intake.leases.RECOVER_EVERY_SECONDS
        help="Seconds between scheduled recoveries of orphaned sources.")] = 60.0,
    notify_every: Annotated[float, typer.Option(
        help="Seconds between looks for released letters whose email has not gone out "
             "(a mail server that was down is retried this often).")] = 60.0,
    dispatch_to: Annotated[str, typer.Option(
        help="Hand letters from S3 to this pool deployment (e.g. process-sources/letters) "
             "instead of processing them here.")] = "",
    once: Annotated[bool, typer.Option(  # noqa: FBT002
        "--once", help="Poll each enabled intake once, in this process, and exit.")] = False,
) -> None:
    """Unattended intake: serves the hot folder, S3 prefix and daily print batch (per settings),
    recovery, and the notification outbox (emails a mail server did not take are resent)."""
    from config.settings import get_settings
    from flows.runtime import configure_prefect_env

    settings = get_settings()
    configure_prefect_env()
    if not (settings.watch_enabled or settings.s3_intake_enabled or settings.print_batch_enabled):
        console.print("[yellow]Nothing is switched on.[/yellow] Set LETTERBRIDGE_WATCH_ENABLED "
                      "(+ WATCH_FOLDER), LETTERBRIDGE_S3_INTAKE_ENABLED (+ S3_INTAKE_PREFIX) or "
                      "LETTERBRIDGE_PRINT_BATCH_ENABLED; only recovery and the email outbox will run.")
    lock = _one_worker_per_home(settings.home)
    _wait_for_database(wait=not once)
    if once:
        _run_once(settings, settle=settle, require_marker=require_marker,
                  dispatch_to=dispatch_to)
        return
    _need_server("letterbridge worker")

    from prefect import serve

    from flows import deployments as deps

    options = deps.WorkerOptions(poll_seconds=poll, every_seconds=every, settle_seconds=settle,
                                 require_marker=require_marker,
                                 recover_every_seconds=recover_every,
                                 notify_every_seconds=notify_every, dispatch_to=dispatch_to)
    served = deps.served_deployments(settings, options)
    names = [f"{d.flow_name}/{d.name}" for d in served]
    crashed = deps.crash_orphaned_runs([n for n in names if not n.startswith("print-batch/")])
    if crashed:
        console.print(f"marked {crashed} flow run(s) of a dead worker as Crashed")
    try:
        deps.ensure_zombie_automation(settings.silent_run_seconds)
    except Exception as exc:  # the worker runs without it; say so
        console.print(f"[yellow]Could not create the automation that crashes silent flow runs "
                      f"({type(exc).__name__}); runs of a killed worker may stay Running.[/yellow]")
    _recover_at_start()
    sensors = [deps.outbox_sensor(notify_every),
               deps.recovery_sensor(recover_every, options.recover_min_age_seconds)]
    if settings.watch_enabled:
        sensors.append(deps.IntakeSensor(
            f"hot-folder/{deps.host_name()}",
            deps.hot_folder_has_work(settings.watch_folder, settle,
                                     require_marker=require_marker), poll_seconds=poll))
    if settings.s3_intake_enabled:
        sensors.append(deps.IntakeSensor(
            f"s3-intake/{deps.host_name()}", deps.s3_has_work(settings.s3_intake_prefix),
            poll_seconds=poll))
    for name in names:
        console.print(f"serving [bold]{name}[/bold]")
    ui = settings.prefect_ui_url or os.environ["PREFECT_API_URL"].removesuffix("/api")
    console.print(f"flow runs: {ui}/runs")
    for sensor in sensors:
        sensor.start()
    deps.check_schedules_later(names)
    try:
        serve(*served, limit=limit, query_seconds=max(1, min(int(poll), 10)),
              print_starting_message=False)
    finally:
        for sensor in sensors:
            sensor.stop()
        lock.close()


def _wait_for_database(*, wait: bool) -> None:
    """A worker started while the database cannot be reached (a reboot, a network cut) waits
    for it and says so, rather than dying with a traceback; `--once` says so and exits 1."""
    from sqlalchemy import text

    from storage.db import session_scope
    from storage.outages import is_outage, which_service

    delay = 1.0
    while True:
        try:
            with session_scope() as session:
                session.execute(text("SELECT 1"))
            return
        except Exception as exc:
            if not is_outage(exc):
                raise
            if not wait:
                console.print(f"[red]Stopped: {which_service(exc)} could not be reached[/red] "
                              f"({type(exc).__name__}).")
                raise typer.Exit(1) from None
            console.print(f"[yellow]{which_service(exc)} could not be reached[/yellow] "
                          f"({type(exc).__name__}); trying again in {delay:.0f} s", soft_wrap=True)
        time.sleep(delay)
        delay = min(delay * 2, 30.0)


def _one_worker_per_home(home: Path):  # an open file holding the lock
    """Two workers on one data folder would fight over its hot folder and runs: refuse."""
    import fcntl

    (home / "locks").mkdir(parents=True, exist_ok=True)
    handle = (home / "locks" / "worker.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        console.print(f"[red]Another letterbridge worker is running on {home}.[/red]")
        raise typer.Exit(2) from None
    return handle


def _recover_at_start() -> None:
    """A worker that starts after a crash resumes what its predecessor left (under leases)."""
    from flows.recovery import recover_flow
    from intake.leases import unfinished_source_ids

    if unfinished_source_ids():
        console.print("resuming unfinished sources left by an earlier run…")
        recover_flow(min_age_seconds=0, label="start-up")


def _run_once(settings, *, settle: float, require_marker: bool,
              dispatch_to: str) -> None:
    from flows.intake import hot_folder_flow, s3_intake_flow
    from flows.outbox import notify_outbox_flow

    _recover_at_start()
    failed = False
    state = notify_outbox_flow(return_state=True)  # what earlier runs could not send
    out.print(f"outbox: {state.message or state.name}")
    failed |= not state.is_completed()
    if settings.watch_enabled and settings.watch_folder:
        state = hot_folder_flow(str(settings.watch_folder), settle_seconds=settle,
                                require_marker=require_marker,
                                return_state=True)
        out.print(f"hot folder: {state.message or state.name}")
        failed |= not state.is_completed()
    if settings.s3_intake_enabled:
        state = s3_intake_flow(settings.s3_intake_prefix, dispatch_to=dispatch_to,
                               return_state=True)
        out.print(f"s3 intake: {state.message or state.name}")
        failed |= not state.is_completed()
    if failed:
        raise typer.Exit(1)


def recover(
    min_age: Annotated[float, typer.Option(
        help="Only sources registered at least this many seconds ago.")] = 0.0,
    dry_run: Annotated[bool, typer.Option(  # noqa: FBT002
        "--dry-run", help="Only count what is unfinished.")] = False,
) -> None:
    """Resume sources and letters a dead process left unfinished (never ones being worked on)."""
    from flows.runtime import configure_prefect_env

    configure_prefect_env()
    from flows.recovery import recover_flow
    from intake.leases import stuck_counts, unfinished_source_ids
    from storage.outages import is_outage, which_service

    try:
        counts = stuck_counts()
        out.print(f"unfinished: {counts['sources_unfinished']} source(s), "
                  f"{counts['letters_processing']} letter(s) in processing")
        if dry_run or not unfinished_source_ids(min_age_seconds=min_age):
            return
        resumed = recover_flow(min_age_seconds=min_age, label="cli")
    except Exception as exc:
        if not is_outage(exc):
            raise
        console.print(f"[red]Stopped: {which_service(exc)} could not be reached[/red] "
                      f"({type(exc).__name__}); what it did not finish waits, unjudged. Run it "
                      "again once it is back.", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"resumed {len(resumed)} source(s)")


def pool_deploy(
    pool: Annotated[str, typer.Option(help="Work pool name (created as a process pool).")]
    = "letters",
    recover_every: Annotated[float, typer.Option(  # intake.leases.RECOVER_EVERY_SECONDS
        help="Seconds between scheduled recoveries of a dead worker's sources.")] = 60.0,
    from_source: Annotated[Path | None, typer.Option(
        help="Load flows from this project folder (same path on every worker) instead of the "
             "installed package.")] = None,
) -> None:
    """Create the work pool and deploy `process-sources` (+ a scheduled `recover`) to it."""
    _need_server("letterbridge pool deploy")
    from flows.runtime import configure_prefect_env

    configure_prefect_env()
    from flows.deployments import deploy_to_pool

    names = deploy_to_pool(pool, recover_every_seconds=recover_every,
                           source=from_source.resolve() if from_source else None)
    for name in names:
        out.print(f"deployed {name} to work pool {pool!r}")
    out.print(f"start workers with:  letterbridge pool worker --pool {pool} --limit 1")


def pool_worker(
    pool: Annotated[str, typer.Option(help="Work pool to take flow runs from.")] = "letters",
    limit: Annotated[int, typer.Option(help="Flow runs at once (1 uses every core for one).")]
    = 1,
    name: Annotated[str, typer.Option(help="Worker name in the Prefect UI (default: Prefect's).")]
    = "",
    grace: Annotated[float, typer.Option(
        help="On SIGTERM: seconds the runs get to hand themselves back before they are killed.")]
    = 20.0,
) -> None:
    """A work pool's worker (`prefect worker start`) that, on SIGTERM or Ctrl-C, hands its runs
    back to the pool at once instead of making them wait for the end of the batch or for
    recovery (use it under systemd with KillMode=mixed)."""
    _need_server("letterbridge pool worker")
    _pin_settings_for_runs()
    from flows.runtime import configure_prefect_env

    configure_prefect_env()
    from flows.pool_worker import run_pool_worker

    raise typer.Exit(run_pool_worker(pool, limit=limit, name=name, grace_seconds=grace))


def _pin_settings_for_runs() -> None:
    """A process worker starts every flow run in a new temporary folder, where the default
    `./.letterbridge` (or a relative LETTERBRIDGE_HOME) names an empty data folder: no settings
    file, SQLite. The runs inherit this environment, so name this shell's data folder and
    settings file there by absolute path, and say which they are."""
    from config.settings import config_file_path, get_settings

    config = config_file_path().resolve()
    os.environ["LETTERBRIDGE_HOME"] = str(get_settings().home.resolve())
    os.environ["LETTERBRIDGE_CONFIG"] = str(config)
    found = "" if config.is_file() else " [yellow](not found: environment only)[/yellow]"
    console.print(f"settings for this worker's runs: {escape(str(config))}{found}", soft_wrap=True)
    if get_settings().effective_database_url.startswith("sqlite"):
        console.print("[yellow]Its database is SQLite in this machine's data folder[/yellow]: "
                      "pool workers must share PostgreSQL (database_url).", soft_wrap=True)


def pool_submit(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of scans.")],
    pool: Annotated[str, typer.Option(
        help="Work pool whose `process-sources` deployment runs them.")] = "letters",
    batch_size: Annotated[int, typer.Option(help="Sources per flow run.")] = 1,
    uploaded_by: Annotated[str, typer.Option(help="Who handed these in (for the audit log).")]
    = "",
    wait: Annotated[bool, typer.Option(  # noqa: FBT002
        "--wait", help="Wait until every file is processed.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds.")]
    = 3600.0,
) -> None:
    """Register scans (originals to the shared blob store) and queue them for the pool's workers."""
    _need_server("letterbridge pool submit")
    from flows.runtime import configure_prefect_env

    configure_prefect_env()
    from flows.deployments import pool_deployment_name
    from flows.intake import dispatch_sources
    from intake.sources import register_file, scan_paths, source_outcome

    found = scan_paths(paths)
    if found.missing:
        console.print(f"[red]Not found:[/red] {', '.join(str(p) for p in found.missing)}")
        raise typer.Exit(2)
    files = found.files
    for skip in found.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(str(skip.path))}: {skip.reason}",
                      soft_wrap=True)
    sources = []
    for path in files:
        try:
            sources.append(register_file(path, uploaded_by=uploaded_by or "pool-submit"))
        except OSError as exc:  # it changed since the scan: one file never stops the others
            console.print(f"[yellow]skipped[/yellow] {escape(str(path))}: could not be read "
                          f"({getattr(exc, 'reason', '') or exc.strerror or type(exc).__name__})",
                          soft_wrap=True)
    sources = list(dict.fromkeys(sources))
    todo = [sid for sid in sources if source_outcome(sid).status == "pending"]
    runs = dispatch_sources(pool_deployment_name(pool), todo, batch_size=max(1, batch_size))
    out.print(f"{len(files)} file(s): {len(sources) - len(todo)} already processed, "
              f"{len(todo)} queued in {len(runs)} flow run(s) on pool {pool!r}")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcomes = {sid: source_outcome(sid).status for sid in todo}
        left = [sid for sid, status in outcomes.items() if status == "pending"]
        if not left:
            out.print(f"all {len(todo)} processed: "
                      f"{sum(s == 'done' for s in outcomes.values())} done, "
                      f"{sum(s == 'quarantined' for s in outcomes.values())} quarantined")
            return
        time.sleep(1.0)
    console.print(f"[red]timed out[/red] with {len(left)} source(s) unfinished")
    raise typer.Exit(1)
