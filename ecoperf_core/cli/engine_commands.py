"""The spec's engine commands: ``qnet``, ``qflow``, ``qerberos``, ``cicd``, ``go-live``, ``dao``.

Each is a thin adapter over one ``Ecoperf`` method: read the ids or the spec's request payload
(``--payload JSON`` or ``--payload @file.json``), let the service evaluate and store the decision,
print it as a table or, with ``--json``, as the spec's payload. Exit codes (``ExitCode``): 0 ok,
1 a negative answer (a gate blocked, a module not ready), 2 bad input, 3 unknown id or warehouse
missing/busy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ecoperf_core.cli.common import ExitCode, console, handle_errors, print_json
from ecoperf_core.errors import FieldProblem, ValidationError

if TYPE_CHECKING:
    from ecoperf_core.evaluation.runner import EvaluationResult
    from ecoperf_core.policy import Policy

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the decision as the spec's JSON.")]
EnvOpt = Annotated[
    str, typer.Option("--environment", "-e", help="Environment of the data to evaluate.")
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        help="Policy file to decide with (default: <ECOPERF_HOME>/policy.toml, else the spec's "
        "defaults). `ecosystem-perf demo` writes data/demo/policy.toml.",
        show_default=False,
    ),
]
PayloadOpt = Annotated[
    str | None,
    typer.Option(
        "--payload",
        help="The spec's request body as JSON, or @FILE to read it from a file.",
        show_default=False,
    ),
]


# ------------------------------------------------------------------------------------ helpers


def read_payload(value: str, option: str = "--payload") -> str:
    """JSON text, or the text of ``@file``; a missing file is bad input naming the option."""
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise ValidationError(
                source=option,
                problems=[FieldProblem(field=option, message=f"no such file: {path}")],
            )
        return path.read_text(encoding="utf-8")
    return value


def _policy(path: Path | None) -> Policy | None:
    if path is None:
        return None
    from ecoperf_core.policy import load_policy

    return load_policy(path)


def _usage(message: str) -> typer.Exit:
    from ecoperf_core.cli.common import err_console

    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(ExitCode.BAD_INPUT)


def _service() -> Any:
    from ecoperf_core.service import Ecoperf

    return Ecoperf()


def _logged(result: EvaluationResult) -> None:
    """One line saying the decision was logged and whether it changed (an event was queued)."""
    stored = result.stored
    if not stored.decisions:
        return
    changed = ", ".join(
        f"{c['subject']}: {c['previous'] or '(none)'} -> {c['outcome']}" for c in stored.changes[:5]
    )
    more = f" (+{stored.events - 5} more)" if stored.events > 5 else ""
    note = (
        f"{stored.events} outbox event{'s' if stored.events != 1 else ''} ({changed}{more})"
        if stored.events
        else "no outbox event (outcome unchanged, or a what-if/shadow decision)"
    )
    as_of = f" as of {result.as_of:%Y-%m-%d %H:%M:%S}" if result.as_of else ""
    console.print(
        f"[dim]logged {stored.decisions} decision{'s' if stored.decisions != 1 else ''}{as_of}; "
        f"{note}. See: ecosystem-perf decisions --engine {result.engine}[/dim]",
        highlight=False,
    )


def _kv_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows:
        shown = json.dumps(value) if isinstance(value, list | dict) else str(value)
        table.add_row(key, shown)
    return table


# --------------------------------------------------------------------------------------- QNET

_NODE_COLUMNS = (
    ("node", "nodeId"),
    ("latency", "latencyScore"),
    ("errors", "errorRateScore"),
    ("capacity", "capacityScore"),
    ("regression", "regressionScore"),
    ("overall", "overallScore"),
    ("recommendation", "recommendation"),
    ("weight", "routingWeight"),
)


def _parse_nodes(text: str) -> list[str]:
    """``[{"id": "node-1"}, ...]`` or ``["node-1", ...]`` → ids."""
    try:
        data = json.loads(read_payload(text, "--nodes"))
    except json.JSONDecodeError as exc:
        raise ValidationError(
            source="--nodes", problems=[FieldProblem(field="--nodes", message=f"not JSON: {exc}")]
        ) from None
    if not isinstance(data, list) or not data:
        raise ValidationError(
            source="--nodes",
            problems=[FieldProblem(field="--nodes", message='expected [{"id": "node-1"}, ...]')],
        )
    ids = []
    for i, item in enumerate(data):
        node = item.get("id") if isinstance(item, dict) else item
        if not isinstance(node, str) or not node:
            raise ValidationError(
                source="--nodes",
                problems=[FieldProblem(field=f"--nodes[{i}].id", message="expected a node id")],
            )
        ids.append(node)
    return ids


def qnet(
    weights: Annotated[
        bool, typer.Option("--weights", help="Routing weights (all nodes, or --nodes).")
    ] = False,
    nodes: Annotated[
        str | None,
        typer.Option(
            "--nodes",
            help='Node ids as JSON: \'[{"id":"node-1"},{"id":"node-2"}]\' (metrics are read '
            "from the warehouse).",
            show_default=False,
        ),
    ] = None,
    score: Annotated[
        str | None, typer.Option("--score", help="Score one node.", show_default=False)
    ] = None,
    payload: PayloadOpt = None,
    environment: EnvOpt = "production",
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """QNET: node performance scores and routing weights.

    The fleet is evaluated whole (hysteresis, at most 10% newly down-weighted, panic mode), stored
    in the decision log and published on change; the requested nodes are printed. --payload scores
    the spec's node-score request on the metrics it carries (a what-if: logged, not published).
    """
    service = _service()
    if payload is not None:
        result = service.node_score_payload(read_payload(payload), policy=_policy(policy))
        _print_nodes(result, as_json, single=True)
        return
    if score is None and not weights and nodes is None:
        raise _usage("say --weights [--nodes JSON], --score NODE or --payload JSON")
    ids = [score] if score is not None else (_parse_nodes(nodes) if nodes else None)
    result = service.node_weights(ids, environment, policy=_policy(policy))
    _print_nodes(result, as_json, single=score is not None)


def _print_nodes(result: EvaluationResult, as_json: bool, single: bool) -> None:
    outputs = result.outputs()
    if as_json:
        if single:
            print_json(outputs[0])
        else:
            fleet = result.fleet.summary() if result.fleet is not None else None
            print_json(
                {
                    "asOf": result.as_of,
                    "fleet": fleet,
                    "weights": {o["nodeId"]: o["routingWeight"] for o in outputs},
                    "nodes": outputs,
                }
            )
        return
    shown = outputs
    title = "QNET node scores"
    if len(outputs) > 60:
        shown = [o for o in outputs if o["routingWeight"] != 1.0 and o["routingWeight"] < 1.2]
        title = f"QNET: {len(outputs)} nodes; showing those below weight 1.0"
    table = Table(title=title, title_justify="left")
    for name, _key in _NODE_COLUMNS:
        table.add_column(name, justify="left" if name in ("node", "recommendation") else "right")
    for o in shown:
        colour = "red" if o["routingWeight"] < 1.0 else "green" if o["routingWeight"] > 1.0 else ""
        table.add_row(
            *(
                f"[{colour}]{o[key]}[/]" if colour and key == "routingWeight" else str(o[key])
                for _name, key in _NODE_COLUMNS
            )
        )
    console.print(table)
    if result.fleet is not None:
        f = result.fleet.summary()
        console.print(
            f"fleet: {f['nodes']} nodes, healthy share {f['healthyShare']:.0%}, panic "
            f"{'ON' if f['panic'] else 'off'}, newly down-weighted {f['newlyDownWeighted']} "
            f"(cap {f['allowedNewlyDownWeighted']}, held {f['heldByCap']})",
            highlight=False,
        )
    if single and result.decisions:
        console.print(f"reason: {result.decisions[0].evidence.get('reason')}", highlight=False)
    _logged(result)


# -------------------------------------------------------------------------------------- Qflow


def qflow(
    check: Annotated[
        str | None, typer.Option("--check", help="Operation id to check.", show_default=False)
    ] = None,
    op_type: Annotated[
        str | None,
        typer.Option("--type", help="Operation type: read or write.", show_default=False),
    ] = None,
    priority: Annotated[
        str, typer.Option("--priority", help="low, normal, high or critical.")
    ] = "normal",
    complexity: Annotated[
        str, typer.Option("--complexity", help="low, medium or high.")
    ] = "medium",
    user: Annotated[
        str | None, typer.Option("--user", help="User id (context).", show_default=False)
    ] = None,
    payload: PayloadOpt = None,
    environment: EnvOpt = "production",
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Qflow: proceed, queue_deferral or cache_fallback for an operation, now.

    Conditions (SLO violation, estimated latency, error-budget burn, cache hit rate) come from the
    operation's history in the warehouse; the rule table is in docs/engines.md.
    """
    service = _service()
    if payload is not None:
        result = service.operation_check_payload(
            read_payload(payload), environment, policy=_policy(policy)
        )
    else:
        if check is None or op_type is None:
            raise _usage("say --check OPERATION --type read|write (or --payload JSON)")
        from ecoperf_core.models import PolicyCheckRequest, parse_request

        # Validate the options exactly like the spec's request (names the bad field).
        parse_request(
            PolicyCheckRequest,
            {
                "operation": {"id": check, "type": op_type, "params": {"complexity": complexity}},
                "context": {"priority": priority, **({"userId": user} if user else {})},
            },
            source="qflow options",
        )
        result = service.operation_check(
            check, op_type, complexity, priority, user, environment, policy=_policy(policy)
        )
    decision = result.decisions[0]
    if as_json:
        print_json(decision.output)
        return
    o = decision.output
    console.print(
        _kv_table(
            f"Qflow policy check: {o['operationId']}",
            [
                ("decision", o["decision"]),
                ("reason", o["reason"]),
                ("riskLevel", o["riskLevel"]),
                ("alternatives", o["alternatives"]),
                ("rule", decision.evidence.get("rule")),
                ("estimated latency ms", decision.evidence.get("estimatedLatencyMs")),
                ("error budget burn", decision.inputs.get("error_budget_burn")),
                ("SLO violation", decision.inputs.get("slo_violation")),
                ("cache hit rate", decision.inputs.get("cache_hit_rate")),
            ],
        )
    )
    _logged(result)


# ----------------------------------------------------------------------------------- Qerberos


def qerberos(
    risk: Annotated[
        str | None, typer.Option("--risk", help="Entity id to assess.", show_default=False)
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Entity kind when the id is ambiguous.", show_default=False),
    ] = None,
    payload: PayloadOpt = None,
    environment: EnvOpt = "production",
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Qerberos: performance-based risk assessment of an entity (user, node, ...)."""
    service = _service()
    if payload is not None:
        result = service.risk_payload(read_payload(payload), policy=_policy(policy))
    elif risk is not None:
        result = service.entity_risk(risk, kind, environment, policy=_policy(policy))
    else:
        raise _usage("say --risk ENTITY (or --payload JSON)")
    decision = result.decisions[0]
    if as_json:
        print_json(decision.output)
        return
    o = decision.output
    console.print(
        _kv_table(
            f"Qerberos risk: {o['entityId']}",
            [
                ("riskLevel", o["riskLevel"]),
                ("riskScore", o["riskScore"]),
                ("points", decision.evidence.get("points")),
                ("latency trend", decision.inputs.get("latency_trend")),
                ("cost increase", decision.evidence.get("costIncrease")),
            ],
        )
    )
    if o["signals"]:
        table = Table(title="signals", title_justify="left")
        for column in ("type", "severity", "detail"):
            table.add_column(column)
        for signal in o["signals"]:
            detail = {k: v for k, v in signal.items() if k not in ("type", "severity")}
            table.add_row(signal["type"], signal["severity"], json.dumps(detail))
        console.print(table)
    for correlation in o["correlations"]:
        console.print(f"correlation: {json.dumps(correlation)}", highlight=False)
    _logged(result)


# -------------------------------------------------------------------------------------- CI/CD


def cicd(
    gate: Annotated[
        str | None,
        typer.Option("--gate", help="Deployment (version) to gate.", show_default=False),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline deployment (default: the one in service when the candidate appeared).",
            show_default=False,
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            "--payload",
            help="The spec's gate-check payload (deploymentMetrics + baseline) as JSON or @FILE, "
            "instead of reading the warehouse.",
            show_default=False,
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here.", show_default=False)
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Write a Markdown summary here.", show_default=False),
    ] = None,
    environment: EnvOpt = "production",
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """CI/CD performance gate: P95 ≤ 110%, P99 ≤ 115%, cache hit ≥ 90%, errors ≤ 200% of baseline.

    Reads the deployment and its baseline over the same time range from raw requests, or takes
    the spec's gate-check payload with --metrics. Exits 1 when the deployment is blocked.
    """
    from ecoperf_core.evaluation.reports import gate_junit, gate_markdown, gate_rows

    service = _service()
    if metrics is not None:
        result = service.gate_payload(read_payload(metrics, "--metrics"), policy=_policy(policy))
        if gate is not None and result.decisions[0].subject != gate:
            raise _usage(
                f"--gate {gate!r} does not match the payload's deploymentId "
                f"{result.decisions[0].subject!r}"
            )
    elif gate is not None:
        result = service.deployment_gate(gate, baseline, environment, policy=_policy(policy))
    else:
        raise _usage("say --gate DEPLOYMENT (or --metrics JSON|@file)")
    decision = result.decisions[0]
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(gate_junit(decision), encoding="utf-8")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(gate_markdown(decision), encoding="utf-8")
    o = decision.output
    if as_json:
        print_json(o)
    else:
        source = decision.evidence.get("source", {})
        base_name = source.get("baseline", "baseline")
        table = Table(
            title=f"Performance gate: {o['deployment']} vs {base_name}", title_justify="left"
        )
        for column in ("criterion", o["deployment"], base_name, "threshold", "rule", "result"):
            table.add_column(
                column, justify="right" if column not in ("criterion", "rule") else "left"
            )
        for row in gate_rows(decision):
            result_text = "[green]pass[/]" if row.passed else f"[red]FAIL ({row.severity})[/]"
            table.add_row(
                row.metric,
                f"{row.current:g}",
                f"{row.baseline:g}",
                f"{row.threshold:g}",
                row.rule,
                result_text,
            )
        console.print(table)
        verdict = "[green]passed[/]" if o["passed"] else "[red]blocked[/]"
        console.print(f"gate {verdict}: recommendation {o['recommendation']}", highlight=False)
        if source.get("from"):
            console.print(
                f"[dim]same time range {source['from']} .. {source['to']}, requests "
                f"{source.get('requests')}[/dim]",
                highlight=False,
            )
        _logged(result)
    if not o["passed"]:
        raise typer.Exit(ExitCode.FAILED)


# ------------------------------------------------------------------------------------ Go-live


def go_live(
    readiness: Annotated[
        str, typer.Option("--readiness", help="Module to assess.", show_default=False)
    ],
    environment: EnvOpt = "production",
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Go-live readiness: latency, error budget, cache, cost forecast and capacity gates.

    Exits 1 unless the module is ready (blocked, or insufficient data: never a pass).
    """
    result = _service().readiness(readiness, environment, policy=_policy(policy))
    decision = result.decisions[0]
    o = decision.output
    if as_json:
        print_json(o)
    else:
        table = Table(
            title=f"Go-live readiness: {o['module']} ({o['environment']})", title_justify="left"
        )
        for column in ("gate", "status", "measured", "threshold", "message"):
            table.add_column(
                column, justify="right" if column in ("measured", "threshold") else "left"
            )
        colours = {"passed": "green", "failed": "red", "insufficient_data": "yellow"}
        for name, gate in o["gates"].items():
            table.add_row(
                name,
                f"[{colours[gate['status']]}]{gate['status']}[/]",
                "-" if gate["measured"] is None else f"{gate['measured']:g}",
                "-" if gate["threshold"] is None else f"{gate['threshold']:g}",
                gate["message"],
            )
        console.print(table)
        console.print(f"overall: [bold]{o['overallStatus']}[/bold]", highlight=False)
        for blocker in o["blockers"]:
            console.print(f"  blocker: {blocker}", highlight=False)
        for advice in o["recommendations"]:
            console.print(f"  recommendation: {advice}", highlight=False)
        _logged(result)
    if o["overallStatus"] != "ready":
        raise typer.Exit(ExitCode.FAILED)


# ---------------------------------------------------------------------------------------- DAO


def dao(
    subnet: Annotated[
        str | None, typer.Option("--subnet", help="DAO id to evaluate.", show_default=False)
    ] = None,
    payload: PayloadOpt = None,
    environment: EnvOpt = "production",
    policy: PolicyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """DAO subnet evaluation: SLO compliance, burn rate and isolation recommendation."""
    service = _service()
    if payload is not None:
        result = service.dao_payload(read_payload(payload), policy=_policy(policy))
    elif subnet is not None:
        result = service.dao(subnet, environment, policy=_policy(policy))
    else:
        raise _usage("say --subnet DAO (or --payload JSON)")
    decision = result.decisions[0]
    o = decision.output
    if as_json:
        print_json(o)
        return
    table = Table(title=f"DAO subnet: {o['daoId']}", title_justify="left")
    for column in ("SLO", "status", "actual", "target"):
        table.add_column(column, justify="right" if column in ("actual", "target") else "left")
    for name, item in o["sloCompliance"].items():
        colour = "green" if item["status"] == "compliant" else "red"
        table.add_row(
            name, f"[{colour}]{item['status']}[/]", f"{item['actual']:g}", f"{item['target']:g}"
        )
    console.print(table)
    console.print(
        f"performanceScore {o['performanceScore']}, errorBudgetBurn {o['errorBudgetBurn']}, "
        f"impact {o['impactAssessment']}\nisolationRecommendation: [bold]"
        f"{o['isolationRecommendation']}[/bold] ({o['reason']})",
        highlight=False,
    )
    _logged(result)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(qnet))
    app.command()(handle_errors(qflow))
    app.command()(handle_errors(qerberos))
    app.command()(handle_errors(cicd))
    app.command(name="go-live")(handle_errors(go_live))
    app.command()(handle_errors(dao))
