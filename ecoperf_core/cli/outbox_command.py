"""``outbox``: delivery state of published events; ``outbox deliver``; ``outbox replay``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from ecoperf_core.cli.common import ExitCode, console, handle_errors, print_json

outbox_app = typer.Typer(
    help="Outbox events and their delivery to subscribers (webhooks, Alertmanager, HAProxy, "
    "Prefect events): show pending, retrying and dead deliveries, deliver, replay dead ones.",
    no_args_is_help=False,
    invoke_without_command=True,
)

_STATUSES = ("pending", "retrying", "dead")


def _prefect_senders() -> dict[str, Any]:
    from tasks.prefect_events import prefect_sender_factories

    return prefect_sender_factories()


@outbox_app.callback()
@handle_errors
def outbox(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only undelivered rows in this status: "
            + ", ".join(_STATUSES)
            + " (failed = retrying)",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows listed.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show delivery counts per subscriber and the undelivered events with their last error."""
    if ctx.invoked_subcommand is not None:
        return
    if status == "failed":  # what operators call a delivery that failed and will be retried
        status = "retrying"
    if status is not None and status not in _STATUSES:
        console.print(f"[red]error:[/red] --status must be one of {', '.join(_STATUSES)}")
        raise typer.Exit(ExitCode.BAD_INPUT)
    from ecoperf_core.service import Ecoperf

    result = Ecoperf().outbox_status(status, limit)
    if as_json:
        print_json(result)
        return
    counts = Table(title=f"Outbox: {result['events']} events", box=box.SIMPLE_HEAD)
    for column in ("subscriber", "status", "count", "next attempt (UTC)"):
        counts.add_column(column)
    for row in result["subscribers"]:
        counts.add_row(
            row["subscriber"], row["status"], f"{row['count']:,}", row["nextAttemptAt"][:19]
        )
    console.print(counts)
    if result["undelivered"]:
        rows = Table(title="Undelivered (oldest first)", box=box.SIMPLE_HEAD)
        for column in ("event", "subscriber", "status", "tries", "type", "subject", "last error"):
            rows.add_column(column, overflow="fold")
        for row in result["undelivered"]:
            rows.add_row(
                row["eventId"][:8],
                row["subscriber"],
                row["status"],
                str(row["attempts"]),
                row["eventType"],
                row["subject"],
                (row["lastError"] or "")[:120],
            )
        console.print(rows)


@outbox_app.command("deliver")
@handle_errors
def deliver(
    subscribers: Annotated[
        Path | None,
        typer.Option(
            "--subscribers",
            help="Subscribers file (default ECOPERF_SUBSCRIBERS, else <home>/subscribers.toml).",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Keep retrying until every delivery is delivered or dead."),
    ] = False,
    follow: Annotated[
        float,
        typer.Option(
            "--follow",
            min=0,
            help="Keep polling for new events every N seconds (0: stop when idle).",
        ),
    ] = 0.0,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", min=0.1, help="Stop after this long.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Deliver due outbox events to every configured subscriber. Exits 1 if any went dead."""
    from ecoperf_core.service import Ecoperf

    report = Ecoperf().deliver_outbox(
        subscribers_file=subscribers,
        max_seconds=max_seconds,
        wait_for_retries=wait,
        idle_poll_s=follow,
        extra_senders=_prefect_senders(),
    )
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(
            f"delivered {report.delivered:,}, retrying {report.retrying:,}, dead {report.dead:,}, "
            f"superseded {report.superseded:,}; {report.open_left:,} still open "
            f"({report.rounds} rounds, {report.seconds:.1f} s)"
        )
        for name, why in report.skipped.items():
            console.print(f"[yellow]skipped[/yellow] {name}: {why}")
    if report.dead:
        raise typer.Exit(ExitCode.FAILED)


@outbox_app.command("replay")
@handle_errors
def replay(
    subscriber: Annotated[
        str | None, typer.Option("--subscriber", help="Only this subscriber's dead deliveries.")
    ] = None,
    event: Annotated[str | None, typer.Option("--event", help="Only this event id.")] = None,
) -> None:
    """Put dead deliveries back to pending with a fresh budget of attempts."""
    from ecoperf_core.service import Ecoperf

    count = Ecoperf().replay_dead(subscriber=subscriber, event_id=event)
    console.print(f"{count} dead deliveries queued again; run `ecosystem-perf outbox deliver`")


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")
