"""What every command shares: consoles, exit codes, JSON output, running flows quietly."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from ecoperf_core.errors import (
    EcoperfError,
    NotFoundError,
    QueryRefusedError,
    ValidationError,
    WarehouseBusyError,
    WarehouseUnusableError,
)

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


class ExitCode:
    """Exit codes, documented in ``docs/cli.md``."""

    OK = 0
    FAILED = 1  # the command ran and its answer is negative: a file rejected, a gate blocked
    BAD_INPUT = 2  # the command could not run on what it was given (usage, bad JSON, bad SQL)
    UNAVAILABLE = 3  # the warehouse is missing or busy beyond the timeout


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def print_json(payload: Any) -> None:
    """JSON on stdout, plain (no colour codes), for scripts."""
    print(json.dumps(payload, indent=2, default=_default))


def quiet_prefect() -> None:
    """Keep Prefect's own INFO logs out of command output unless the user asked for them."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # The temporary server's telemetry job writes to its SQLite file while flows do, and its
    # "database is locked" traceback would land in our output.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "WARNING")


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn ecoperf's own errors into a one-line message and a documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (QueryRefusedError, ValidationError) as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(ExitCode.BAD_INPUT) from exc
        except (NotFoundError, WarehouseBusyError, WarehouseUnusableError) as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(ExitCode.UNAVAILABLE) from exc
        except EcoperfError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(ExitCode.FAILED) from exc

    return wrapper
