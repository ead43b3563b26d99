"""``canary``, ``analyze`` and ``slo``: the detectors on warehouse data.

Thin adapters over ``Ecoperf.canary``/``analyze``/``slo``. ``canary`` exits with the verdict:
0 pass, 1 fail, 4 marginal, 5 insufficient_data (a CI step can treat 4 and 5 as it likes; neither
is ever a silent pass); 2 bad input and 3 unknown deployment/warehouse missing as everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ecoperf_core.cli.common import console, handle_errors, print_json, quiet_prefect


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@handle_errors
def canary(
    canary_version: Annotated[str, typer.Option("--canary", help="Candidate deployment id.")],
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline deployment id.")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="latency_ms (critical), errors, cost; repeatable."),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Judge cumulative intervals (e.g. 1h), failing fast."),
    ] = None,
    environment: Annotated[str, typer.Option("--environment", "-e")] = "production",
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Judge a canary deployment against its baseline on their raw requests (same time range).

    Exit codes: 0 pass, 1 fail, 4 marginal, 5 insufficient_data, 2 bad input, 3 unknown id."""
    from ecoperf_core.analysis.canary import EXIT_CODES
    from ecoperf_core.service import Ecoperf

    run = Ecoperf().canary(
        canary_version, baseline, metric or ["latency_ms", "errors"], interval, environment
    )
    if as_json:
        print_json(run.to_dict())
    else:
        table = Table(
            title=f"canary {run.canary} vs {run.baseline} ({run.window_from:%Y-%m-%d %H:%M} - "
            f"{run.window_to:%H:%M})",
            title_justify="left",
        )
        for column in ("metric", "verdict", "n base", "n canary", "effect", "CI", "tests", "why"):
            table.add_column(column)
        for m in run.metrics:
            tests = ", ".join(
                f"{t['name']} p={t['p_value']:.2g}{'!' if t['failed'] else ''}" for t in m["tests"]
            )
            ci = "-" if m["ci_low"] is None else f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
            table.add_row(
                m["name"] + (" (critical)" if m["critical"] else ""),
                m["verdict"],
                str(m["n_baseline"]),
                str(m["n_canary"]),
                _fmt(m["effect_size"]),
                ci,
                tests,
                m["reason"],
            )
        console.print(table)
        console.print(
            f"verdict: [bold]{run.verdict}[/bold] (score {_fmt(run.score)}): "
            f"{run.detail['reason']}; stored in the decision log (engine canary)"
        )
    raise typer.Exit(EXIT_CODES[run.verdict])


@handle_errors
def analyze(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the analyze flow: change points and anomalies on new rollup windows, stored."""
    quiet_prefect()
    from flows.analyze import analyze_flow

    summary = analyze_flow()
    if as_json:
        print_json(summary)
        return
    if "skipped" in summary:
        console.print(f"analyze skipped: {summary['skipped']}")
        return
    console.print(
        f"analyzed {summary['series']} series ({summary['points']:,} new points) as of "
        f"{summary['asOf']}: {summary['stored']} new detections {summary['byDetector']} "
        f"in {summary['seconds']:.2f} s"
    )
    table = Table(title="New detections (largest first)", title_justify="left")
    for column in ("detector", "entity", "metric", "detected at", "change", "p / score"):
        table.add_column(column)
    for d in summary["detections"]:
        table.add_row(
            d["detector"],
            f"{d['entity_kind']} {d['entity_id']}",
            f"{d['metric']} ({d['window']})",
            str(d["detected_at"])[:16],
            "-" if d["relative_change"] is None else f"{d['relative_change']:+.0%}",
            _fmt(d["p_value"] if d["detector"] == "changepoint" else d["score"]),
        )
    console.print(table)


@handle_errors
def slo(
    entity: Annotated[str, typer.Option("--entity", help="Entity id (node, DAO, module ...).")],
    kind: Annotated[str | None, typer.Option("--kind", help="Entity kind if ambiguous.")] = None,
    openslo: Annotated[
        Path | None,
        typer.Option("--openslo", help="OpenSLO v1 YAML file (kind SLO); default: policy SLO."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Error budget remaining and multi-window burn-rate alerts of one entity."""
    from ecoperf_core.errors import FieldProblem, ValidationError
    from ecoperf_core.service import Ecoperf

    text = None
    if openslo is not None:
        if not openslo.is_file():
            raise ValidationError(
                source="--openslo",
                problems=[FieldProblem(field="--openslo", message=f"no such file: {openslo}")],
            )
        text = openslo.read_text(encoding="utf-8")
    result = Ecoperf().slo(entity, kind, text)
    if as_json:
        print_json(result)
        return
    for s in result["slos"]:
        b = s["budget"]
        console.print(
            f"[bold]{s['slo']}[/bold] ({result['kind']} {entity}, target {s['target']}, as of "
            f"{result['asOf'][:16]}): error ratio {b['error_ratio']:.3g}, budget remaining "
            f"{b['remaining']:.1%}, burn {b['burn_rate']:.2f}"
        )
        table = Table(title_justify="left")
        for column in ("rule", "severity", "threshold", "long burn", "short burn", "firing"):
            table.add_column(column)
        for a in s["alerts"]:
            table.add_row(
                a["rule"],
                a["severity"],
                _fmt(a["threshold"]),
                _fmt(a["long_burn_rate"]),
                _fmt(a["short_burn_rate"]),
                "FIRING" if a["firing"] else "no",
            )
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("canary")(canary)
    app.command("analyze")(analyze)
    app.command("slo")(slo)
