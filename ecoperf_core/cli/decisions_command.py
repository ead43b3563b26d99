"""``decisions``: the decision log (the spec's "Policy Decision Log"), latest first."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from ecoperf_core.cli.common import console, handle_errors, print_json

_ENGINES = ("qnet", "qflow", "qerberos", "cicd", "golive", "dao")


def _summary(row: dict[str, Any]) -> str:
    """The one thing worth reading in a table cell, per engine."""
    output, evidence = row["output"] or {}, row["evidence"] or {}
    engine = row["engine"]
    if engine == "qnet":
        return f"score {output.get('overallScore')}; {evidence.get('reason', '')}"
    if engine == "qflow":
        return (
            f"{output.get('reason')} (risk {output.get('riskLevel')}, rule {evidence.get('rule')})"
        )
    if engine == "qerberos":
        signals = ", ".join(s["type"] for s in output.get("signals", []))
        return f"score {output.get('riskScore')}" + (f"; {signals}" if signals else "")
    if engine == "cicd":
        violations = ", ".join(v["type"] for v in output.get("violations", []))
        return violations or "no violations"
    if engine == "golive":
        failed = evidence.get("failed") or []
        missing = evidence.get("insufficient") or []
        parts = [f"failed: {', '.join(failed)}"] if failed else []
        parts += [f"insufficient: {', '.join(missing)}"] if missing else []
        return "; ".join(parts) or "all gates passed"
    if engine == "dao":
        return f"{output.get('reason')} (burn {output.get('errorBudgetBurn')})"
    return json.dumps(output)[:80]


def decisions(
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine", help=f"Only this engine: {', '.join(_ENGINES)}.", show_default=False
        ),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            help="Only this subject (node, operation, entity, deployment, module@env, DAO).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most recent N.", min=1)] = 20,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Full rows: inputs, thresholds, output, evidence."),
    ] = False,
) -> None:
    """Show the decision log: every evaluation with its outcome, policy version and evidence."""
    from ecoperf_core.service import Ecoperf

    rows = Ecoperf().decisions(engine, subject, limit)
    if as_json:
        print_json(rows)
        return
    table = Table(
        title="Decision log, latest first (--json: inputs, thresholds, evidence, policy)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("engine", no_wrap=True)
    table.add_column("subject", overflow="fold", max_width=20)
    table.add_column("outcome", overflow="fold", max_width=22)
    table.add_column("why", overflow="fold", min_width=24, ratio=1)
    for row in rows:
        outcome = row["outcome"] + (" (shadow)" if row["shadow"] else "")
        trigger = (row["evidence"] or {}).get("trigger")
        why = _summary(row) + (f" [{trigger}]" if trigger and trigger != "scheduled" else "")
        table.add_row(
            row["decided_at"][5:19].replace("T", " "),
            row["engine"],
            row["subject"],
            outcome,
            why,
        )
    console.print(table)
    if not rows:
        console.print("no decisions yet: run `ecosystem-perf demo` or an engine command")


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(decisions))
