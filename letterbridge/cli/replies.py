"""Replies and facility mail rules: key in, approve, print the batch, mark mailed, record returns.

`replies print-batch` runs the Prefect flow `print-batch` when PREFECT_API_URL names a
server (so the run, its logs and its table artifact show in the Prefect UI). Without a
server it calls the same code directly: a Prefect flow there would first start a
temporary server, 8-15 s for one print batch (see ../shared/PREFECT.md).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out = Console()
ACTOR = "cli"


class ReturnReason(StrEnum):
    transferred = "transferred"
    released = "released"
    refused = "refused"
    unknown = "unknown"


def say(text: str) -> None:
    """One plain line on stdout: no markup (names may hold brackets), no wrapping (for grep)."""
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    replies = typer.Typer(help="Replies on paper: approve, print, mail, returned mail.",
                          no_args_is_help=True)
    replies.command("add")(add)
    replies.command("approve")(approve)
    replies.command("print-batch")(print_batch)
    replies.command("mark-mailed")(mark_mailed)
    replies.command("returned")(returned)
    replies.command("list")(list_replies)
    app.add_typer(replies, name="replies")

    facility = typer.Typer(help="Facility mail rules (the roster import fills the street address).",
                           no_args_is_help=True)
    facility.command("set-rules")(set_rules)
    facility.command("list")(list_facilities)
    app.add_typer(facility, name="facility")


def add(
    item: Annotated[str, typer.Option("--item", help="The letter being answered (mail item id).")],
    author: Annotated[str, typer.Option("--author", help="The volunteer's email.")],
    text_file: Annotated[Path, typer.Option("--text-file", exists=True, dir_okay=False,
                                            help="UTF-8 text of the reply.")],
) -> None:
    """Key in a reply that came by email or on paper: it is submitted to the letter's sender."""
    from postal.replies import ReplyRefused, add_from_text
    from storage.db import session_scope

    text = text_file.read_text(encoding="utf-8")
    try:
        with session_scope() as session:
            reply = add_from_text(session, item_id=item, author_email=author, text=text,
                                  actor=ACTOR)
            reply_id, problems = reply.id, list(reply.check_problems)
    except ReplyRefused as exc:
        console.print(f"[red]Not added:[/red] {exc.reason}")
        raise typer.Exit(1) from exc
    say(f"Reply {reply_id} submitted")
    for problem in problems:
        say(f"  needs attention: {problem}")


def approve(
    all_: Annotated[bool, typer.Option("--all", help="Every submitted reply.")] = False,  # noqa: FBT002
    reply_ids: Annotated[list[str] | None, typer.Option("--id", help="A reply id (repeatable).")]
    = None,
) -> None:
    """Approve submitted replies that pass the checks and render their PDFs; print each refusal."""
    from postal import replies
    from storage.db import session_scope

    if not all_ and not reply_ids:
        console.print("Give --all or --id ID.")
        raise typer.Exit(2)
    approved: list[str] = []
    refused: list[tuple[str, str]] = []
    with session_scope() as session:
        if all_:
            ok, bad = replies.approve_all(session, actor=ACTOR)
            approved += [r.id for r in ok]
            refused += [(r.id, reason) for r, reason in bad]
        for reply_id in reply_ids or []:
            try:
                approved.append(replies.approve(session, reply_id, actor=ACTOR).id)
            except replies.ReplyRefused as exc:
                refused.append((reply_id, exc.reason))
    for reply_id in approved:
        say(f"approved {reply_id}")
    for reply_id, reason in refused:
        say(f"refused {reply_id}: {reason}")
    say(f"{len(approved)} approved, {len(refused)} refused")


def print_batch(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for letters.pdf, envelopes.pdf "
                                                         "or labels.pdf, and manifest.csv.")],
) -> None:
    """Print every approved reply: letters, envelopes or labels, and a manifest, in one order."""
    from postal.print_batch import batch_rows, build_print_batch
    from storage.db import session_scope

    if os.environ.get("PREFECT_API_URL"):
        from flows.runtime import configure_prefect_env

        configure_prefect_env()
        from flows.print_batch import print_batch_flow

        batch_id = print_batch_flow(str(out_dir), actor=ACTOR)
    else:
        with session_scope() as session:
            batch = build_print_batch(session, out_dir, actor=ACTOR)
            batch_id = batch.id if batch else None
    if batch_id is None:
        say("nothing to print")
        return
    with session_scope() as session:
        rows = batch_rows(session, batch_id)
    files = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
    say(f"Print batch {batch_id}: {len(rows)} letters, "
              f"{sum(int(r['pages']) for r in rows)} pages -> {out_dir} ({', '.join(files)})")


def mark_mailed(
    batch: Annotated[str | None, typer.Option("--batch", help="Batch id; default the latest "
                                                              "printed batch.")] = None,
) -> None:
    """Mark a printed batch (and its letters) mailed."""
    from postal.print_batch import BatchNotFound
    from postal.print_batch import mark_mailed as mark
    from storage.db import session_scope

    try:
        with session_scope() as session:
            row = mark(session, batch, actor=ACTOR)
            batch_id, count = row.id, row.reply_count
    except BatchNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    say(f"Batch {batch_id} mailed ({count} letters)")


def returned(
    reply_id: Annotated[str, typer.Option("--id", help="The reply that came back.")],
    reason: Annotated[ReturnReason, typer.Option("--reason")],
) -> None:
    """Record a reply the post brought back; transferred/released flag the correspondent."""
    from postal.replies import ReplyRefused, record_returned_mail
    from storage.db import session_scope

    try:
        with session_scope() as session:
            reply = record_returned_mail(session, reply_id, reason.value, actor=ACTOR)
            status = reply.inmate.status
    except ReplyRefused as exc:
        console.print(f"[red]Not recorded:[/red] {exc.reason}")
        raise typer.Exit(1) from exc
    say(f"Reply {reply_id} returned by post ({reason.value}); correspondent is {status}")


def list_replies(
    status: Annotated[str | None, typer.Option(help="Only replies in this state.")] = None,
) -> None:
    """Replies with their state, facility, pages and problems (ids, no letter text)."""
    from sqlalchemy import select

    from storage.db import session_scope
    from storage.models import Reply

    table = Table()
    for column in ("reply", "status", "to"):
        table.add_column(column, no_wrap=True)  # ids stay whole for copy and paste
    for column in ("facility", "from", "pages", "batch", "problems"):
        table.add_column(column)
    with session_scope() as session:
        query = select(Reply).order_by(Reply.created_at)
        if status:
            query = query.where(Reply.status == status)
        for reply in session.scalars(query):
            facility = reply.inmate.facility
            table.add_row(
                reply.id, reply.status, reply.inmate.inmate_number,
                facility.name if facility else "", reply.volunteer.display_name,
                str(reply.pages or ""), reply.batch_id or "",
                "; ".join(reply.check_problems) or reply.note,
            )
    out.print(table)


def set_rules(
    name: Annotated[str, typer.Option("--name", help="Facility name as in the roster.")],
    mail_address: Annotated[str | None, typer.Option(
        help="Address line for general mail (e.g. a vendor's PO box); '' = use the street address."
    )] = None,
    mail_city: Annotated[str | None, typer.Option()] = None,
    mail_state: Annotated[str | None, typer.Option()] = None,
    mail_zip: Annotated[str | None, typer.Option()] = None,
    page_limit: Annotated[int | None, typer.Option(help="Most pages per letter; 0 = no limit.")]
    = None,
    postcards_only: Annotated[bool | None, typer.Option(
        "--postcards-only/--no-postcards-only")] = None,
    labels_allowed: Annotated[bool | None, typer.Option(
        "--labels-allowed/--no-labels-allowed")] = None,
    notes: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a facility's mail rules; options not given stay as they are."""
    from postal.facility_rules import FacilityNotFound
    from postal.facility_rules import set_rules as apply
    from storage.db import session_scope

    extra = {} if page_limit is None else {"page_limit": page_limit}
    try:
        with session_scope() as session:
            apply(session, name, actor=ACTOR, mail_address_line=mail_address,
                  mail_city=mail_city, mail_state=mail_state, mail_zip=mail_zip,
                  postcards_only=postcards_only, labels_allowed=labels_allowed, notes=notes,
                  **extra)
    except FacilityNotFound as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    _print_facilities(name)


def list_facilities() -> None:
    """Facilities with their mailing address and mail rules."""
    _print_facilities(None)


def _print_facilities(name: str | None) -> None:
    from sqlalchemy import select

    from postal.facility_rules import mail_address
    from storage.db import session_scope
    from storage.models import Facility

    table = Table()
    for column in ("facility", "system", "mail to", "page limit", "postcards only", "labels",
                   "notes"):
        table.add_column(column)
    with session_scope() as session:
        query = select(Facility).order_by(Facility.name)
        if name is not None:
            query = query.where(Facility.name == name)
        for facility in session.scalars(query):
            address = mail_address(facility)
            table.add_row(
                facility.name, facility.system, f"{address.line}, {address.last_line}",
                str(facility.page_limit or "-"), "yes" if facility.postcards_only else "no",
                "yes" if facility.labels_allowed else "no", facility.notes,
            )
    out.print(table)
