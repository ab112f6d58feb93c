"""`letterbridge users`: add, list and disable the people who log in to the web app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

users_app = typer.Typer(help="People who log in to the web app.", no_args_is_help=True)


@users_app.command("add")
def add(
    email: Annotated[str, typer.Option("--email", help="Login email.")],
    role: Annotated[str, typer.Option("--role", help="mailroom, penpal or admin.")],
    password_file: Annotated[
        Path,
        typer.Option(
            "--password-file",
            exists=True,
            dir_okay=False,
            readable=True,
            help="File whose first line is the password (keeps it off the command line).",
        ),
    ],
    volunteer_email: Annotated[
        str | None,
        typer.Option(
            "--volunteer-email",
            help="Pen pals: the roster volunteer this account belongs to (default: same email).",
        ),
    ] = None,
) -> None:
    """Create an account, or reset the role and password of an existing one."""
    from review_ui.accounts import AccountError, add_user
    from storage.db import session_scope

    lines = password_file.read_text(encoding="utf-8").splitlines()
    password = lines[0] if lines else ""
    try:
        with session_scope() as session:
            user = add_user(
                session,
                email=email,
                role=role,
                password=password,
                actor="cli",
                volunteer_email=volunteer_email,
            )
            summary = f"{user.email} ({user.role})"
    except AccountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"saved {summary}")


@users_app.command("list")
def list_users() -> None:
    """Every account: email, role, state, linked volunteer."""
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from review_ui.accounts import invite_expired
    from storage.db import session_scope
    from storage.models import User

    with session_scope() as session:
        rows = session.scalars(
            select(User).options(joinedload(User.volunteer)).order_by(User.role, User.email)
        ).all()
        if not rows:
            typer.echo("no users yet: letterbridge users add --email ... --role ...")
            return
        for user in rows:
            state = "active"
            if not user.active:
                state = "disabled"
            elif user.invite_token:
                state = "expired" if invite_expired(user) else "invited"
            linked = f"  volunteer: {user.volunteer.email}" if user.volunteer else ""
            typer.echo(f"{user.email:40} {user.role:9} {state:8}{linked}")


@users_app.command("disable")
def disable(email: Annotated[str, typer.Option("--email", help="Login email.")]) -> None:
    """Stop an account from logging in; its open sessions end at their next request."""
    from review_ui.accounts import AccountError, set_active
    from storage.db import session_scope

    try:
        with session_scope() as session:
            set_active(session, email, active=False, actor="cli")
    except AccountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"disabled {email}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
