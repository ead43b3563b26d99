"""Debugging and tuning: ``trace`` (span tree), ``why`` (root-cause ranking), ``replay``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.tree import Tree

from ecoperf_core.cli.common import console, handle_errors, print_json


def _bar(start_ms: float, duration_ms: float, total_ms: float, width: int = 30) -> str:
    """A one-line waterfall bar: where the span sits within the trace."""
    if total_ms <= 0:
        return ""
    a = round(start_ms / total_ms * width)
    b = max(a + 1, round((start_ms + duration_ms) / total_ms * width))
    return " " * a + "█" * (min(b, width) - a)


def trace(
    trace_id: Annotated[str, typer.Argument(help="Trace id (32 hex digits).")],
    as_json: Annotated[bool, typer.Option("--json", help="The tree as JSON.")] = False,
) -> None:
    """Print a trace's span tree with timings (start, duration, self time, critical path)."""
    from ecoperf_core.service import Ecoperf

    report = Ecoperf().trace(trace_id)
    if as_json:
        print_json(report)
        return
    total = float(report["durationMs"])
    tree = Tree(
        f"trace {report['traceId']}  {total:.1f} ms  {report['spans']} spans  "
        f"(start {report['start']})"
    )

    def add(parent: Tree, node: dict[str, Any]) -> None:
        mark = "*" if node["criticalMs"] > 0 else " "
        error = " [red]error[/red]" if node["status"] == "error" else ""
        label = (
            f"{mark} {node['name']} [dim]{node['service']}[/dim]{error}  "
            f"+{node['startMs']:.1f} ms  {node['durationMs']:.1f} ms  "
            f"self {node['selfMs']:.1f}  critical {node['criticalMs']:.1f}  "
            f"[cyan]{_bar(node['startMs'], node['durationMs'], total)}[/cyan]"
        )
        branch = parent.add(label, highlight=False)
        for child in node["children"]:
            add(branch, child)

    for root in report["roots"]:
        add(tree, root)
    console.print(tree, highlight=False)
    path = " → ".join(f"{s['name']} {s['durationMs']:.1f}" for s in report["criticalPath"])
    console.print(f"critical path (* above), ms: {path}", highlight=False)


def replay(
    policy: Annotated[
        Path,
        typer.Option("--policy", help="The candidate policy file (TOML).", show_default=False),
    ],
    since: Annotated[
        str, typer.Option("--since", help="Decisions made since: 30d, 12h, 90m or an ISO time.")
    ] = "30d",
    output_format: Annotated[
        str, typer.Option("--format", help="table, json or markdown.")
    ] = "table",
    incidents: Annotated[
        Path | None,
        typer.Option(
            "--incidents",
            help="Labelled incidents: a JSON list of {entity, start, end}.",
            show_default=False,
        ),
    ] = None,
    window_h: Annotated[
        float,
        typer.Option(
            "--incident-window-h", help="Hours around a decision an incident counts.", min=0
        ),
    ] = 24.0,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the report to this file.", show_default=False),
    ] = None,
) -> None:
    """Replay a candidate policy over the stored decisions and report what it would change.

    Nothing is stored or published: the warehouse is only read.
    """
    from ecoperf_core.errors import FieldProblem, ValidationError
    from ecoperf_core.replay.report import to_markdown
    from ecoperf_core.service import Ecoperf

    if output_format not in ("table", "json", "markdown"):
        raise ValidationError(
            "replay", [FieldProblem("--format", "expected table, json or markdown", output_format)]
        )
    report = Ecoperf().replay(policy, since, incidents, window_h)
    markdown = to_markdown(report)
    if out is not None:
        from ecoperf_core.ingest.landing import atomic_write_bytes

        text = json.dumps(report, indent=2) if output_format == "json" else markdown
        atomic_write_bytes(out, text.encode())
    if output_format == "json":
        print_json(report)
        return
    if output_format == "markdown":
        print(markdown, end="")
        return
    console.print(
        f"candidate {report['policyVersion']}: {report['decisions']} decisions in "
        f"{report['evaluations']} evaluations since {report['since']}; "
        f"{report['reproduced']} the same, {report['different']} different "
        "(nothing stored or published)",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("engine", "subject", "decided at", "actual", "candidate", "incident"):
        table.add_column(column, overflow="fold")
    for d in report["differences"][:50]:
        table.add_row(
            d["engine"], d["subject"], d["decidedAt"][:19], d["actual"], d["candidate"],
            d["incident"] or "-",
        )  # fmt: skip
    console.print(table)
    gates, iso, inc = report["gates"], report["isolations"], report["incidents"]
    console.print(
        f"gates: {len(gates['extraBlocks'])} extra blocks, {len(gates['fewerBlocks'])} fewer; "
        f"isolations {iso['actual']} → {iso['candidate']}; "
        f"weight changes {len(report['weights']['changes'])}; "
        f"possible false positives {inc['actual']['possibleFalsePositives']} → "
        f"{inc['candidate']['possibleFalsePositives']}, false negatives "
        f"{inc['actual']['possibleFalseNegatives']} → {inc['candidate']['possibleFalseNegatives']}",
        highlight=False,
    )


def why(
    entity: Annotated[
        str, typer.Argument(help="The entity with the incident (node-17, dao-07, ...).")
    ],
    at: Annotated[
        str,
        typer.Option("--at", help="When (ISO, UTC unless an offset is given).", show_default=False),
    ],
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="The incident's metric (default: its nearest detection's).",
            show_default=False,
        ),
    ] = None,
    environment: Annotated[str, typer.Option("--environment")] = "production",
    as_json: Annotated[
        bool, typer.Option("--json", help="Incident, suspects, evidence as JSON.")
    ] = False,
) -> None:
    """Rank the other metrics and entities by how early and how strongly they moved before an
    incident (change-point timing, lead-lag correlation), with evidence per suspect."""
    from ecoperf_core.service import Ecoperf

    result = Ecoperf().why(entity, at, metric, environment)
    if as_json:
        print_json(result)
        return
    inc = result["incident"]
    change = "" if inc["relativeChange"] is None else f", change {inc['relativeChange']:+.0%}"
    console.print(
        f"incident: {inc['entity']} {inc['metric']} ({inc['window']}) at {inc['at']} "
        f"({inc['source']}{change}); {result['candidates']} series compared",
        highlight=False,
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    columns = ("#", "entity", "metric", "score", "moved at", "lead m", "change", "corr", "lag m")
    for column in columns:
        table.add_column(column, no_wrap=column in ("entity", "metric", "moved at"))
    for s in result["suspects"]:
        ev = s["evidence"]
        table.add_row(
            str(s["rank"]), s["entity"], s["metric"], f"{s['score']:.3f}",
            (ev["changeAt"] or "-")[11:16],
            "-" if ev["leadMinutes"] is None else f"{ev['leadMinutes']:g}",
            "-" if ev["relativeChange"] is None else f"{ev['relativeChange']:+.0%}",
            f"{ev['correlation']:+.2f}", f"{ev['lagMinutes']:g}",
        )  # fmt: skip
    console.print(table)
    for t in result["exampleTraces"]:
        console.print(
            f"example trace {t['traceId']}: {t['durationMs']:.1f} ms, {entity} {t['entityMs']:.1f} ms; "
            f"critical path mostly {t['criticalTop']} ({t['criticalTopShare']:.0%})",
            highlight=False,
        )


def traces(
    entity: Annotated[
        str | None,
        typer.Option(
            "--entity", help="Example traces of this entity's window.", show_default=False
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Window start (ISO).", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Window end (ISO).", show_default=False)
    ] = None,
    service: Annotated[
        str | None,
        typer.Option("--service", help="Breakdown of one service only.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Latency breakdown per service and operation (with each one's share of the critical path),
    or, with --entity, the example traces explaining that entity's window, slowest first."""
    from ecoperf_core.errors import FieldProblem, ValidationError
    from ecoperf_core.service import Ecoperf, _parse_time

    a = None if start is None else _parse_time(start, "--from")
    b = None if end is None else _parse_time(end, "--to")
    if entity is not None:
        if a is None or b is None:
            raise ValidationError(
                "traces", [FieldProblem("--from/--to", "an entity's window needs both")]
            )
        rows = Ecoperf().example_traces(entity, a, b, limit)
    else:
        rows = Ecoperf().trace_breakdown(a, b, service)[:limit]
    if as_json:
        print_json(rows)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in rows[0].keys() if rows else ("no traces",):
        table.add_column(column, no_wrap=column in ("traceId", "service", "operation"))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(traces))
    app.command()(handle_errors(why))
    app.command()(handle_errors(trace))
    app.command()(handle_errors(replay))
