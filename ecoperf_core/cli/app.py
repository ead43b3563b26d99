"""``ecosystem-perf``: the typer application and its error handling."""

from __future__ import annotations

import sys

import typer

from ecoperf_core.cli import data_commands, demo_command, serve_command
from ecoperf_core.cli.common import ExitCode, err_console
from ecoperf_core.errors import (
    EcoperfError,
    NotFoundError,
    QueryRefusedError,
    ValidationError,
    WarehouseBusyError,
)

app = typer.Typer(
    name="ecosystem-perf",
    help=(
        "ecoperf: a performance-aware control plane. Ingest metrics into a DuckDB warehouse, "
        "roll them up, and turn them into decisions for QNET, Qflow, Qerberos, CI/CD, go-live "
        "and DAO isolation.\n\nStart with `ecosystem-perf demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

demo_command.register(app)
data_commands.register(app)
serve_command.register(app)


def main() -> None:
    """Console-script entry point: run the app, turning ecoperf errors into clear exits."""
    try:
        app()
    except QueryRefusedError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(ExitCode.BAD_INPUT)
    except ValidationError as exc:
        err_console.print(f"[red]invalid input:[/red] {exc}", markup=True, highlight=False)
        sys.exit(ExitCode.BAD_INPUT)
    except (NotFoundError, WarehouseBusyError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(ExitCode.UNAVAILABLE)
    except EcoperfError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(ExitCode.FAILED)


if __name__ == "__main__":
    main()
