"""``demo``: generate the demo ecosystem, run the flows on it, print what they found."""

from __future__ import annotations

import shutil
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from ecoperf_core.cli.common import console, handle_errors, print_json, quiet_prefect


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    if not rows:
        table.add_column("(nothing)")
        return table
    for column in rows[0]:
        table.add_column(
            column, justify="right" if isinstance(rows[0][column], int | float) else "left"
        )
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row.values()))
    return table


def demo(
    size: Annotated[
        int,
        typer.Option(
            help="Raw request samples to generate (tens of millions for benchmarks).", min=1000
        ),
    ] = 2_000_000,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the warehouse first and start from scratch.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Generate the demo ecosystem, run ingest, rollup, analyze and evaluate, print the results.

    Writes a deterministic three-day ecosystem (50 nodes, 10 DAOs, 5 modules, operations,
    a baseline and a candidate deployment, users) with injected incidents into data/demo/,
    loads it into the default warehouse (data/ecoperf.duckdb, or ECOPERF_DB) through the same
    flows a schedule runs, evaluates every engine on it (the evaluate flow, with the demo's
    budgets: data/demo/policy.toml) and prints the decisions. Running it again loads nothing
    twice; it evaluates again (new decision rows, no outbox events while nothing changed).
    """
    quiet_prefect()
    from ecoperf_core.demo import generate_demo
    from ecoperf_core.service import Ecoperf

    service = Ecoperf()
    settings = service.settings
    if reset:
        for path in (settings.db_path, settings.db_path.with_name(settings.db_path.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(settings.archive_path, ignore_errors=True)
    started = time.monotonic()
    timings: dict[str, float] = {}
    with console.status("generating the demo ecosystem ...") as status:
        demo_files = generate_demo(settings.home / "demo", size=size)
        timings["generate_s"] = time.monotonic() - started

        from flows.ingest import ingest_flow
        from flows.rollup import rollup_flow

        status.update("ingesting (Prefect flow 'ingest') ...")
        mark = time.monotonic()
        report = ingest_flow(paths=[str(p) for p in demo_files.files])
        timings["ingest_s"] = time.monotonic() - mark
        status.update("rolling up (Prefect flow 'rollup') ...")
        mark = time.monotonic()
        rolled = rollup_flow()
        timings["rollup_s"] = time.monotonic() - mark
        overview = service.overview()
        from flows.analyze import analyze_flow

        status.update("analysing (Prefect flow 'analyze') ...")
        mark = time.monotonic()
        analysis = analyze_flow()
        timings["analyze_s"] = time.monotonic() - mark
        status.update("evaluating (Prefect flow 'evaluate') ...")
        mark = time.monotonic()
        evaluation = _evaluate(service, size)
        timings["evaluate_s"] = time.monotonic() - mark
        status.update("judging the canary v2.1.0 against v2.0.9 ...")
        mark = time.monotonic()
        canary = _canary(service, unchanged=_all_skipped(evaluation["flow"]))
        timings["canary_s"] = time.monotonic() - mark
    timings["total_s"] = time.monotonic() - started
    detections = _highlights(service)
    summary = {
        "warehouse": str(settings.db_path),
        "samples_generated": demo_files.request_samples,
        "points_generated": demo_files.point_rows,
        "traces_generated": demo_files.traces,
        "ingest": report,
        "rollup": rolled,
        "overview": overview,
        "analysis": analysis,
        "detections": detections,
        "evaluation": evaluation,
        "canary": canary,
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"[bold]ecoperf demo[/bold]: {demo_files.request_samples:,} request samples and "
        f"{demo_files.point_rows:,} metric points -> {settings.db_path}"
    )
    console.print(
        f"traces: {demo_files.traces} OTLP traces around the incidents; "
        "try `ecosystem-perf why node-17 --at 2026-11-29T06:00`"
    )
    console.print(
        f"ingest: {report['loaded']} files loaded ({report['rows']:,} rows), "
        f"{report['duplicates']} already present, {report['rejected']} rejected; "
        f"rollups: {rolled['windows'] or 'nothing new'}"
    )
    console.print(
        _table("Slowest nodes, last 6 h (node-17 degrades on day 3)", overview["slowest_nodes"])
    )
    console.print(
        _table(
            "DAOs by worst hourly availability (dao-07 drops on day 3)",
            overview["dao_availability"],
        )
    )
    console.print(_table("Module cost, first vs last day (qdrive ramps)", overview["module_cost"]))
    console.print(
        _table(
            "Deployments, last 12 h (candidate v2.1.0 vs baseline v2.0.9)", overview["deployments"]
        )
    )
    _print_analysis(analysis, detections)
    _print_evaluation(evaluation)
    if canary is not None:
        console.print(
            f"canary {canary['canary']} vs {canary['baseline']}: [bold]{canary['verdict']}[/bold]"
            f" (score {canary['score']}; {canary['reason']})"
        )
    console.print(
        f"done in {timings['total_s']:.1f} s. Query it: "
        "ecosystem-perf query \"SELECT * FROM rollups WHERE entity_id = 'node-17' LIMIT 5\""
    )


def _highlights(service: Any) -> list[dict[str, Any]]:
    """The stored detections worth showing: every change point, then the strongest anomalies
    (all of them stored, of whichever run found them: a re-run of the demo finds nothing new)."""
    changes = service.detections(detector="changepoint", limit=20)
    anomalies = service.detections(detector="anomaly", limit=500)
    anomalies.sort(key=lambda d: -(d.get("score") or 0.0))
    rows = []
    for d in changes + anomalies[:8]:
        rows.append(
            {
                "detector": d["detector"],
                "entity": f"{d['entity_kind']} {d['entity_id']}",
                "metric": f"{d['metric']} ({d['window']})",
                "detected_at": d["detected_at"][:16],
                "change": None
                if d.get("relative_change") is None
                else f"{d['relative_change']:+.0%}",
                "p_value/score": f"{d['p_value']:.1e}"
                if d["detector"] == "changepoint"
                else f"{d['score']:.2f}",
            }
        )
    return rows


def _canary(service: Any, unchanged: bool) -> dict[str, Any] | None:
    """Judge the candidate against its baseline; on unchanged data (a re-run of the demo) show
    the verdict already in the log instead of logging the same verdict again."""
    from ecoperf_core.demo import BASELINE_VERSION, CANDIDATE_VERSION
    from ecoperf_core.errors import NotFoundError

    if unchanged:
        for row in service.decisions("canary", CANDIDATE_VERSION, limit=5):
            if row["output"].get("baseline") == BASELINE_VERSION:
                source = row["evidence"].get("source", {})
                return {
                    "canary": CANDIDATE_VERSION,
                    "baseline": BASELINE_VERSION,
                    "verdict": row["outcome"],
                    "score": row["output"].get("score"),
                    "from": source.get("from"),
                    "to": source.get("to"),
                    "samples": row["inputs"].get("samples"),
                    "reason": row["output"].get("reason"),
                }
    try:
        run = service.canary(CANDIDATE_VERSION, BASELINE_VERSION)
    except NotFoundError:
        return None
    return {k: v for k, v in run.to_dict().items() if k not in ("metrics", "stored")}


def _print_analysis(analysis: dict[str, Any], detections: list[dict[str, Any]]) -> None:
    if "skipped" in analysis:
        console.print(f"analyze: skipped ({analysis['skipped']})")
    else:
        console.print(
            f"analyze: {analysis['series']} series, {analysis['points']:,} new points, "
            f"{analysis['stored']} new detections {analysis['byDetector']} "
            f"in {analysis['seconds']:.1f} s"
        )
    console.print(
        _table(
            "Detections (Prefect flow 'analyze': change points, strongest anomalies)", detections
        )
    )


def _evaluate(service: Any, size: int) -> dict[str, Any]:
    """Run the evaluate flow with the demo's policy, then gate the candidate against its baseline.

    The demo's policy is the policy in force plus per-module budgets scaled to ``size`` and three
    days of cost history (``ecoperf_core.evaluation.demo_policy``); it is written to
    ``<home>/demo/policy.toml`` so every command can reproduce these decisions with ``--policy``.
    """
    from ecoperf_core.demo import BASELINE_VERSION, CANDIDATE_VERSION
    from ecoperf_core.evaluation.demo_policy import demo_policy, policy_to_toml
    from ecoperf_core.policy import load_policy
    from flows.evaluate import evaluate_flow

    policy = demo_policy(load_policy(), size)
    policy_file = service.settings.home / "demo" / "policy.toml"
    policy_file.write_text(
        policy_to_toml(
            policy,
            f"The demo's policy (version {policy.version}): the policy in force plus go-live\n"
            f"budgets for --size {size:,} and 3 days of cost history. Written by "
            "`ecosystem-perf demo`.",
        ),
        encoding="utf-8",
    )
    flow_result = evaluate_flow(policy=policy.normalised())
    decision = _last_gate(service, CANDIDATE_VERSION, BASELINE_VERSION, policy.version)
    if decision is None or not _all_skipped(flow_result):
        gate = service.deployment_gate(CANDIDATE_VERSION, BASELINE_VERSION, policy=policy)
        decision = gate.decisions[0]
    return {
        "policy": str(policy_file),
        "policyVersion": policy.version,
        "flow": flow_result,
        "gate": {
            "deployment": CANDIDATE_VERSION,
            "baseline": BASELINE_VERSION,
            **decision.output,
            "ratiosToBaseline": decision.evidence.get("ratiosToBaseline"),
        },
    }


def _all_skipped(flow_result: dict[str, Any]) -> bool:
    engines = [v for v in flow_result.values() if isinstance(v, dict)]
    return bool(engines) and all("skipped" in v for v in engines)


def _last_gate(service: Any, deployment: str, baseline: str, version: str) -> Any:
    """The gate decision already in the log for this pair and policy (a re-run on unchanged
    data shows it instead of logging the same decision again)."""
    from ecoperf_core.engines.base import Decision

    for row in service.decisions("cicd", deployment, limit=5):
        source = row["evidence"].get("source", {})
        if row["policy_version"] == version and source.get("baseline") == baseline:
            return Decision(
                engine="cicd",
                subject=deployment,
                outcome=row["outcome"],
                output=row["output"],
                inputs=row["inputs"],
                thresholds=row["thresholds"],
                evidence=row["evidence"],
                policy_version=row["policy_version"],
            )
    return None


def _print_evaluation(evaluation: dict[str, Any]) -> None:
    """The decisions the engines took on the demo, one table."""
    flow = evaluation["flow"]
    table = Table(
        title=f"Decisions (Prefect flow 'evaluate', as of {flow.get('asOf')}, "
        f"policy {evaluation['policyVersion']})",
        title_justify="left",
    )
    table.add_column("engine")
    table.add_column("decision")
    qnet = flow.get("qnet", {})
    if "nodes" not in qnet:
        table.add_row("QNET", f"skipped: {qnet.get('skipped')}")
    else:
        down = (
            ", ".join(
                f"{d['node']} -> {d['weight']:g} (score {d['overallScore']:.2f})"
                for d in qnet["downWeighted"]
            )
            or "none"
        )
        table.add_row(
            "QNET weights",
            f"{qnet['nodes']} nodes {qnet['outcomes']}; down-weighted: {down}",
        )
    dao = flow.get("dao", {})
    if "daos" not in dao:
        table.add_row("DAO", f"skipped: {dao.get('skipped')}")
    else:
        recs = ", ".join(f"{k}: {v}" for k, v in dao["recommendations"].items()) or "none"
        table.add_row("DAO isolation", f"{dao['daos']} DAOs; recommendations: {recs} (others none)")
    golive = flow.get("golive", {})
    for subject, item in golive.get("modules", {}).items():
        why = ", ".join(item["failed"]) or ", ".join(item["insufficient"])
        colour = {"ready": "green", "blocked": "red"}.get(item["status"], "yellow")
        table.add_row(
            f"go-live {subject}",
            f"[{colour}]{item['status']}[/]" + (f" ({why})" if why else ""),
        )
    risk = flow.get("qerberos", {})
    if "highest" in risk:
        top = ", ".join(
            f"{h['entity']} {h['riskLevel']} ({h['riskScore']})" for h in risk["highest"][:3]
        )
        table.add_row("Qerberos", f"{risk['entities']} entities {risk['outcomes']}; highest: {top}")
    gate = evaluation["gate"]
    verdict = "[green]passed[/]" if gate["passed"] else "[red]blocked[/]"
    violations = ", ".join(
        f"{v['type']} {v['current']:g} > {v['threshold']:g}"
        if v["type"] != "cache_hit_rate_degradation"
        else f"{v['type']} {v['current']:g} < {v['threshold']:g}"
        for v in gate["violations"]
    )
    table.add_row(
        f"CI/CD gate {gate['deployment']} vs {gate['baseline']}",
        f"{verdict}: {gate['recommendation']}" + (f" ({violations})" if violations else ""),
    )
    console.print(table)
    if _all_skipped(flow):
        console.print(
            "[dim]no new data since the last evaluation: these are the decisions in force "
            "(nothing logged twice)[/dim]"
        )
    console.print(
        f"[dim]decision log: ecosystem-perf decisions; reproduce with "
        f"--policy {evaluation['policy']}[/dim]",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(demo))
