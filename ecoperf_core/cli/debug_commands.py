"""Debugging and tuning: ``trace`` (span tree), ``why`` (root-cause ranking), ``replay``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
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


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(trace))
