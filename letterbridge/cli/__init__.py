"""The `letterbridge` command. Each command group lives in its own module with `register(app)`."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="letterbridge",
    help="Letterbridge: scanned pen-pal letters in, private routed mail out, replies back to paper.",
    no_args_is_help=True,
    add_completion=False,
)

# Command modules; each defines `register(app: typer.Typer) -> None`.
COMMAND_MODULES = ["core", "samples", "users", "serve", "replies", "worker"]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"letterbridge.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"letterbridge.cli.{name}":
                continue  # that command group is not built yet
            raise
        module.register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
