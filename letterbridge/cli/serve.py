"""`letterbridge serve`: the review web app under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app for the mailroom, pen pals and admins."""
    import uvicorn

    from review_ui.app import create_app
    from storage.db import get_engine

    get_engine()  # migrate the database before the first request, not during it
    # One process: the login rate limit and upload progress live in its memory.
    # No access log: query strings carry roster searches (names), and logs hold no personal data.
    uvicorn.run(
        create_app(), host=host, port=port, proxy_headers=False, log_level="info", access_log=False
    )


def prefect_server(
    *,
    stop: Annotated[bool, typer.Option("--stop", help="End the data folder's Prefect server.")]
    = False,
) -> None:
    """Show (starting it if need be) or stop the Prefect server this data folder's commands
    share when PREFECT_API_URL is not set."""
    # Deferred: this module is imported by every command, and flows/ brings Prefect (1.3 s).
    from flows.runtime import ensure_local_server, running_local_server, stop_local_server

    if stop:
        typer.echo("Stopped." if stop_local_server() else "No Prefect server was running.")
        return
    ensure_local_server()
    info = running_local_server()
    typer.echo(f"Prefect server: UI {info['ui_url']}  API {info['api_url']}  (pid {info['pid']})")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("prefect-server")(prefect_server)
