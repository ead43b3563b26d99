"""``dashboard``: the live terminal view of the ecosystem (``--once`` prints one frame)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from ecoperf_core.cli.common import console, handle_errors, print_json, quiet_prefect


def dashboard(
    once: Annotated[
        bool, typer.Option("--once", help="Print one frame and exit (for scripts and tests).")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between refreshes.", min=0.5)
    ] = 5.0,
    compact: Annotated[
        bool, typer.Option("--compact", help="Fewer rows per section (small terminals).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --once: print the frame's data as JSON.")
    ] = False,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Run the publish flow once (serving snapshot + the web dashboard's model) "
            "and exit: what `serve` schedules every minute.",
        ),
    ] = False,
) -> None:
    """Nodes by recommendation with weights, DAOs with compliance and isolation, recent gate and
    canary verdicts, readiness per module and firing alerts, refreshed every --interval seconds
    from the warehouse (a shared reader per refresh: writers are never blocked for long)."""
    from ecoperf_core.dashboard import terminal, views
    from ecoperf_core.service import Ecoperf

    if publish:
        quiet_prefect()
        from flows.publish import publish_flow

        result = publish_flow()
        console.print(
            f"published {result['snapshot']['path']} and {result['dashboard']['path']} "
            f"(data as of {result['dashboard']['asOf']})",
            highlight=False,
        )
        return
    service = Ecoperf()
    if once:
        model = service.dashboard(series=False)
        if as_json:
            print_json(
                {
                    "asOf": model["asOf"],
                    "health": views.component_health(model),
                    "nodes": views.nodes_by_recommendation(model),
                    "daos": views.daos(model),
                    "verdicts": views.verdicts(model),
                    "readiness": views.readiness(model),
                    "alerts": views.alerts(model),
                }
            )
            return
        console.print(terminal.render(model, compact=compact))
        return
    from rich.live import Live

    def frame() -> object:
        stamp = datetime.now(UTC).strftime("%H:%M:%S UTC")
        return terminal.render(service.dashboard(series=False), refreshed=stamp, compact=compact)

    with Live(frame(), console=console, screen=False, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(frame(), refresh=True)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            pass


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(dashboard))
