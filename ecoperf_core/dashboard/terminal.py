"""The terminal dashboard: one rich frame from the read model (``ecosystem-perf dashboard``)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ecoperf_core.dashboard import views

STYLE = {"ok": "green", "warn": "yellow", "bad": "bold red"}


def _cell(text: Any, status: str) -> Text:
    return Text("-" if text is None else str(text), style=STYLE.get(status, ""))


def _nodes_table(model: dict[str, Any], per_group: int) -> Table:
    table = Table(title="QNET nodes by recommendation", title_justify="left", box=box.SIMPLE)
    table.add_column("recommendation")
    table.add_column("nodes", justify="right")
    table.add_column("weights")
    table.add_column("worst (node weight score)")
    for group in views.nodes_by_recommendation(model):
        worst = ", ".join(
            f"{n['node']} {n['weight']:g} {n['score']:.2f}"
            for n in group["nodes"][:per_group]
            if n["weight"] is not None and n["score"] is not None
        )
        more = len(group["nodes"]) - per_group
        table.add_row(
            _cell(group["recommendation"], group["status"]),
            str(group["count"]),
            ", ".join(f"{w:g}" for w in group["weights"]),
            worst + (f" (+{more})" if more > 0 else ""),
        )
    return table


def _daos_table(model: dict[str, Any], limit: int) -> Table:
    table = Table(title="DAO subnets (worst first)", title_justify="left", box=box.SIMPLE)
    for name, justify in (
        ("dao", "left"),
        ("score", "right"),
        ("latency", "left"),
        ("availability", "left"),
        ("throughput", "left"),
        ("isolation", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in views.daos(model)[:limit]:
        cells = []
        for name in ("latency", "availability", "throughput"):
            c = row["compliance"].get(name, {})
            ok = c.get("status") == "compliant"
            actual = c.get("actual")
            mark = "ok" if ok else c.get("status", "-")
            target = c.get("target")
            text = f"{mark} {actual:.4g}" if isinstance(actual, float) else mark
            if not ok and isinstance(target, float):
                text += f" (target {target:g})"
            cells.append(_cell(text, "ok" if ok else "bad"))
        table.add_row(
            _cell(row["dao"], row["status"]),
            f"{row['score']:.1f}" if row["score"] is not None else "-",
            *cells,
            _cell(row["isolation"], row["status"]),
        )
    return table


def _verdicts_table(model: dict[str, Any], limit: int) -> Table:
    table = Table(title="Recent gate and canary verdicts", title_justify="left", box=box.SIMPLE)
    for name in ("kind", "deployment", "vs", "verdict", "action", "detail", "decided"):
        table.add_column(name)
    for row in views.verdicts(model, limit):
        table.add_row(
            row["kind"],
            row["deployment"],
            row["baseline"] or "-",
            _cell(row["verdict"], row["status"]),
            _cell(row["action"], row["status"]),
            row["detail"],
            (row["decidedAt"] or "")[:19],
        )
    if not table.row_count:
        table.add_row("-", "no gate or canary verdicts yet", "", "", "", "", "")
    return table


def _readiness_table(model: dict[str, Any]) -> Table:
    table = Table(title="Go-live readiness per module", title_justify="left", box=box.SIMPLE)
    for name in ("module", "environment", "status", "failed gates"):
        table.add_column(name)
    for row in views.readiness(model):
        why = ", ".join(row["failed"]) or ", ".join(f"{g} (no data)" for g in row["insufficient"])
        table.add_row(
            row["module"],
            row["environment"] or "-",
            _cell(row["status"], row["health"]),
            why or "-",
        )
    return table


def _alerts_table(model: dict[str, Any], limit: int) -> Table:
    firing = views.alerts(model)
    table = Table(title=f"Firing alerts ({len(firing)})", title_justify="left", box=box.SIMPLE)
    for name in ("severity", "component", "subject", "alert"):
        table.add_column(name)
    for alert in firing[:limit]:
        status = "bad" if alert["severity"] == "critical" else "warn"
        table.add_row(
            _cell(alert["severity"], status), alert["component"], alert["subject"], alert["message"]
        )
    if len(firing) > limit:
        table.add_row("", "", "", f"... {len(firing) - limit} more")
    if not firing:
        table.add_row(_cell("none", "ok"), "", "", "nothing is firing")
    return table


def _header(model: dict[str, Any], refreshed: str | None) -> Panel:
    health = views.component_health(model)
    parts = Text()
    for item in health:
        parts.append(f" {item['component']} ", style="bold")
        parts.append(f"{item['ok']}", style=STYLE["ok"])
        parts.append("/")
        parts.append(f"{item['warn']}", style=STYLE["warn"])
        parts.append("/")
        parts.append(f"{item['bad']}", style=STYLE["bad"])
        parts.append("  ")
    subtitle = f"data as of {model.get('asOf') or '-'} · built {str(model.get('builtAt'))[:19]}"
    if refreshed:
        subtitle += f" · refreshed {refreshed}"
    return Panel(
        parts,
        title="ecoperf dashboard (healthy/warning/critical)",
        subtitle=subtitle,
        title_align="left",
        subtitle_align="left",
    )


def render(
    model: dict[str, Any], refreshed: str | None = None, compact: bool = False
) -> RenderableType:
    """One frame of the terminal dashboard."""
    limit = 5 if compact else 10
    return Group(
        _header(model, refreshed),
        _nodes_table(model, 3 if compact else 5),
        _daos_table(model, limit),
        _verdicts_table(model, 4 if compact else 6),
        _readiness_table(model),
        _alerts_table(model, limit),
    )
