"""``deploy`` and ``drill``: deployment safety and DR drills, run through their Prefect flows.

Thin adapters over the ``deploy`` / ``drill`` flows (which call ``Ecoperf.deploy`` / ``drill``
and leave the Markdown report as a Prefect artifact). Exit codes: ``deploy`` 0 promoted or
switched, 1 rolled back or blocked, 4 held (no sound verdict, a person decides), 6 halted (a hook
could not be delivered: its breaker is open); ``drill`` 0 PolicyMet, 1 PolicyBreached; 2 bad
input and 3 warehouse missing or unknown deployment as everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown

from ecoperf_core.cli.common import console, handle_errors, print_json, quiet_prefect


def _hooks(traffic: str | None, rollback: str | None, switch: str | None) -> dict[str, str] | None:
    given = {"traffic": traffic, "rollback": rollback, "switch": switch}
    hooks = {name: target for name, target in given.items() if target is not None}
    return hooks or None


def deploy(
    deployment: Annotated[str, typer.Option("--deployment", help="Candidate deployment id.")],
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline deployment id.")],
    step: Annotated[
        list[float] | None,
        typer.Option("--step", help="Traffic percent, repeatable, ending at 100 (5 25 50 100)."),
    ] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Each step's interval, e.g. 10m.")
    ] = None,
    environment: Annotated[str, typer.Option("--environment", "-e")] = "production",
    strategy: Annotated[
        str, typer.Option("--strategy", help="canary (traffic steps) or blue-green.")
    ] = "canary",
    mode: Annotated[
        str,
        typer.Option("--mode", help="history: judge stored samples; live: wait for each interval."),
    ] = "history",
    gate_environment: Annotated[
        str | None,
        typer.Option("--gate-environment", help="Where the gate is checked (default staging)."),
    ] = None,
    traffic_hook: Annotated[
        str | None, typer.Option("--traffic-hook", help="URL or command for traffic changes.")
    ] = None,
    rollback_hook: Annotated[
        str | None, typer.Option("--rollback-hook", help="URL or command for a rollback.")
    ] = None,
    switch_hook: Annotated[
        str | None, typer.Option("--switch-hook", help="URL or command for the final switch.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Roll a deployment out: gate check, canary steps judged on warehouse data, then the full
    deployment, or a rollback (blue-green: gates, then the switch).

    Exit codes: 0 promoted/switched, 1 rolled back/blocked, 4 held, 6 halted (hook failed)."""
    quiet_prefect()
    from ecoperf_core.deploy.runner import EXIT_CODES
    from flows.deploy import deploy_flow

    run: dict[str, Any] = deploy_flow(
        deployment=deployment,
        baseline=baseline,
        steps=step,
        interval=interval,
        environment=environment,
        strategy=strategy,
        mode=mode,
        gate_environment=gate_environment,
        hooks=_hooks(traffic_hook, rollback_hook, switch_hook),
    )
    if as_json:
        print_json({k: v for k, v in run.items() if k != "report"})
    else:
        console.print(Markdown(run["report"]))
    raise typer.Exit(EXIT_CODES.get(run["outcome"], 1))


def drill(
    environment: Annotated[
        str, typer.Option("--environment", "-e", help="The DR environment.")
    ] = "dr",
    backup: Annotated[
        Path | None,
        typer.Option("--backup", help="Restore this earlier backup instead of a fresh one."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the drill as JSON.")] = False,
) -> None:
    """DR drill: DR's metrics against primary's baselines, a restore of a real backup (row counts
    and checksums per table, RTO and RPO), failover triggers and recovery validation.

    Exit codes: 0 PolicyMet, 1 PolicyBreached."""
    quiet_prefect()
    from ecoperf_core.deploy.drill import EXIT_CODES
    from flows.drill import drill_flow

    result: dict[str, Any] = drill_flow(
        environment=environment, backup=None if backup is None else str(backup)
    )
    if as_json:
        print_json({k: v for k, v in result.items() if k != "report"})
    else:
        console.print(Markdown(result["report"]))
    raise typer.Exit(EXIT_CODES[result["verdict"]])


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(deploy))
    app.command()(handle_errors(drill))
