"""Core commands: init, roster import, ingest, export, status."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from intake.sources import Found

console = Console(stderr=True)
# Tables stay readable when the output goes to a file or a pipe.
out = Console(width=150) if not sys.stdout.isatty() else Console()


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    roster = typer.Typer(help="The roster: facilities, inmates, volunteers and their matches.",
                         no_args_is_help=True)
    roster.command("import")(roster_import)
    app.add_typer(roster, name="roster")
    app.command("ingest")(ingest)
    app.command("export")(export)
    app.command("status")(status)


def init() -> None:
    """Create the data folder and bring the database to the newest schema; start the data
    folder's Prefect server in the background, so the first ingest need not wait for it."""
    from config.settings import get_settings
    from flows.runtime import launch_local_server
    from storage.db import migrate

    settings = get_settings()
    migrate()
    for folder in (settings.blob_dir, settings.log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    launch_local_server(settings)
    out.print(f"Letterbridge data folder ready: {settings.home}")


def roster_import(
    facilities: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    inmates: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    volunteers: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
    matches: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
) -> None:
    """Import roster CSV files. Re-importing updates rows and never duplicates them."""
    from postal.roster import RosterFileError, import_roster
    from storage.db import session_scope

    files = {k: v for k, v in {"facilities": facilities, "inmates": inmates,
                               "volunteers": volunteers, "matches": matches}.items() if v}
    if not files:
        console.print("Nothing to import: give at least one of --facilities, --inmates, "
                      "--volunteers, --matches.")
        raise typer.Exit(2)
    try:
        with session_scope() as session:
            reports = import_roster(session, files, actor="cli")
    except RosterFileError as exc:
        console.print(f"[red]Roster file problem:[/red] {exc}")
        raise typer.Exit(2) from exc
    failed = False
    for report in reports:
        out.print(f"{report.kind}: {report.created} created, {report.updated} updated, "
                  f"{report.unchanged} unchanged, {len(report.errors)} rejected")
        for line, problem in report.errors:
            failed = True
            console.print(f"  [yellow]{files[report.kind].name} line {line}:[/yellow] {problem}")
    if failed:
        console.print("Rows with problems were skipped; the others were imported.")
        raise typer.Exit(1)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of scans.")],
    uploaded_by: Annotated[str, typer.Option(help="Who handed these in (for the audit log).")] = "",
    label: Annotated[str, typer.Option(help="Name of the batch in the Prefect UI.")] = "",
) -> None:
    """Process scans into routed, redacted letters; waits until every item is processed.

    Entries that are not readable files (pipes, devices, dangling or looping links, files
    this user may not read) are skipped with their reason; the others go on. Exit code 0
    once every other file was processed or quarantined; 1 when the blob store, the database
    or the network failed around some files (they wait, unjudged, for recovery).
    """
    from storage.outages import is_outage, which_service

    try:
        _ingest(paths, uploaded_by=uploaded_by, label=label)
    except Exception as exc:
        if not is_outage(exc):
            raise
        # Something around the files failed, not the files: nothing was decided on them.
        console.print(f"[red]Stopped: {which_service(exc)} could not be reached[/red] "
                      f"({type(exc).__name__}). No file was judged on it: files already stored "
                      "are finished by `letterbridge recover` (or a running worker) once it is "
                      "back; run the same ingest again for the others.", soft_wrap=True)
        raise typer.Exit(1) from None


def _ingest(paths: list[Path], *, uploaded_by: str, label: str) -> None:
    from flows.runtime import configure_prefect_env, leave_local_server_starting
    from intake.sources import scan_paths

    found = scan_paths(paths)
    if found.missing:
        console.print(f"[red]Not found:[/red] {', '.join(str(p) for p in found.missing)}")
        raise typer.Exit(2)
    if found.files:
        # The data folder's Prefect server, if it must be started, starts while this command
        # imports the pipeline and registers the files; it is waited for before the flow runs.
        configure_prefect_env(wait=False)
        import flows.ingest  # noqa: F401 - Prefect and the pipeline's imports, meanwhile
    try:
        _ingest_found(found, uploaded_by=uploaded_by, label=label)
    finally:
        leave_local_server_starting()  # no flow ran (nothing new, or stopped): no wait for it


def _ingest_found(found: Found, *, uploaded_by: str, label: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.runtime import wait_for_local_server
    from intake.sources import Skipped, UnusableFile, register_source
    from letters.batch import pages_progress

    skipped = list(found.skipped)
    registered = []
    for path in found.files:
        try:
            registered.append(register_source(path, uploaded_by=uploaded_by))
        except OSError as exc:  # it changed since the scan: one file never stops the others
            reason = exc.reason if isinstance(exc, UnusableFile) else \
                f"could not be read: {exc.strerror or type(exc).__name__}"
            skipped.append(Skipped(path, reason))
    for skip in skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(str(skip.path))}: {skip.reason}",
                      soft_wrap=True)
    if not registered:
        console.print("No files to ingest.")
        return
    for reg in registered:
        if reg.duplicate and reg.done:
            console.print(f"{reg.filename}: already ingested, nothing new to do")
    todo = list(dict.fromkeys(r.source_id for r in registered if not r.done))
    if todo:
        wait_for_local_server()
        from flows.ingest import ingest_flow

        finished = threading.Event()
        with Progress(TextColumn("[bold]Reading pages"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as progress:
            bar = progress.add_task("pages", total=None)

            def poll() -> None:
                while not finished.wait(0.5):
                    try:
                        done, total = pages_progress(todo)
                        progress.update(bar, completed=done, total=total or None)
                    except Exception:  # progress is best effort
                        continue

            watcher = threading.Thread(target=poll, daemon=True)
            watcher.start()
            try:
                from intake.leases import lease_sources

                # Leased, so a worker's recovery leaves these files alone while we work on them.
                with lease_sources(todo) as held:
                    ingest_flow(held, label=label or _label(todo))
            finally:
                finished.set()
                watcher.join()
                done, total = pages_progress(todo)
                # 0/0 when every file was quarantined: nothing was left to read.
                progress.update(bar, completed=done, total=total)
    _print_summary([r.source_id for r in registered])
    pending = _unfinished([r.source_id for r in registered])
    if pending:
        # A step failed for a reason around the file (the blob store, the database): the file
        # keeps its place and is resumed, never quarantined or decided for it.
        console.print(f"[yellow]{len(pending)} file(s) not finished[/yellow]: a step failed "
                      "because something around them did (the blob store, the database or the "
                      "network), not because of the files. They are kept as they are; "
                      "`letterbridge recover` (or a running worker) finishes them.",
                      soft_wrap=True)
        raise typer.Exit(1)


def _unfinished(source_ids: list[str]) -> list[str]:
    """Files not yet split into letters, or with a letter whose run stopped short (it waits
    with `processing_failed` for recovery)."""
    from sqlalchemy import select

    from intake.sources import source_outcome
    from letters.states import Stage
    from storage.db import session_scope
    from storage.models import MailItem

    source_ids = list(dict.fromkeys(source_ids))
    with session_scope() as session:
        stopped = set(session.scalars(select(MailItem.source_id).where(
            MailItem.source_id.in_(source_ids), MailItem.stage != Stage.done)))
    return [sid for sid in source_ids
            if sid in stopped or source_outcome(sid).status == "pending"]


def _label(source_ids: list[str]) -> str:
    from datetime import UTC, datetime

    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{len(source_ids)}-files"


def _print_summary(source_ids: list[str]) -> None:
    from sqlalchemy import select

    from storage.db import session_scope
    from storage.models import MailItem, SourceFile

    table = Table(title="Ingested")
    for column in ("file", "letter", "pages", "status", "reasons"):
        table.add_column(column)
    with session_scope() as session:
        for source_id in dict.fromkeys(source_ids):
            source = session.get(SourceFile, source_id)
            items = session.scalars(select(MailItem).where(MailItem.source_id == source_id)
                                    .order_by(MailItem.first_source_page)).all()
            for item in items:
                reasons = ", ".join(item.review_reasons)
                if item.quarantine_reason:
                    reasons = f"{reasons}: {item.quarantine_reason}"
                table.add_row(source.filename, item.id, str(len(item.pages)), item.status, reasons)
    out.print(table)


def export(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
) -> None:
    """Write DIR/<item id>/item.json and the page images as delivered, for every mail item."""
    from letters.export import export_all

    count = export_all(out_dir)
    out.print(f"Exported {count} item(s) to {out_dir}")


def status() -> None:
    """Letters by state, and what is waiting, retrying or failing (with the reason)."""
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import MailItem

    with session_scope() as session:
        rows = session.execute(select(MailItem.status, func.count()).group_by(MailItem.status))
        table = Table(title="Letters by state")
        table.add_column("state")
        table.add_column("letters", justify="right")
        for state, count in rows:
            table.add_row(state, str(count))
    out.print(table)
    _print_unfinished()


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _print_unfinished(limit: int = 10) -> None:
    """Files not yet split into letters appear in no letter count: say how many wait, how
    long, and why; and which letters wait for a retry after a failed run, or for a person.
    (The admin dashboard shows the same report: `intake.leases.unfinished_report`.)"""
    from intake.leases import unfinished_report
    from storage.models import utcnow

    now = utcnow()
    report = unfinished_report(limit)
    summary = Table(title="Waiting, retrying, failing")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    summary.add_column("oldest", justify="right")
    oldest = _age((now - report.oldest_file).total_seconds()) if report.oldest_file else ""
    summary.add_row("files not yet split into letters", str(report.files_waiting), oldest)
    summary.add_row("  of those, being processed now", str(report.files_in_progress), "")
    summary.add_row("letters being processed", str(report.letters_processing), "")
    summary.add_row(f"letters whose run failed, to be retried (up to {report.max_failed_runs} "
                    "runs)", str(report.letters_retrying), "")
    summary.add_row(f"letters that failed {report.max_failed_runs} runs: for a person "
                    "(reprocess in the mailroom)", str(report.letters_given_up), "")
    summary.add_row("emails not sent yet (the outbox retries them)", str(report.emails_owed), "")
    out.print(summary)
    if not report.rows:
        return
    detail = Table(title=f"Unfinished (oldest {limit} of each kind)")
    for column in ("source", "letter", "state", "age", "reason"):
        detail.add_column(column)
    for row in report.rows:
        detail.add_row(row.source_id, row.item_id, row.state,
                       _age((now - row.since).total_seconds()), row.reason)
    out.print(detail)
