"""What the dashboards show, derived from the read model (pure: dicts in, dicts out).

Health is read off each decision's own outcome (no new thresholds: the engines already applied the
policy's), on three levels: ``ok``, ``warn``, ``bad``. Firing alerts are the spec's alert
integration list ("Monitoring and Alerting"): node degradation (QNET recommendation degraded or failing), DAO isolation
recommendations, blocked deployment gates, failed canaries (automatic rollback), blocked go-live
readiness and high or critical Qerberos risk, each with the decision that raised it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

Status = str  # "ok" | "warn" | "bad"

# outcome label -> health, per engine (labels the engines emit; anything else is "warn").
_HEALTH: dict[str, dict[str, Status]] = {
    "qnet": {"high_performing": "ok", "healthy": "ok", "degraded": "warn", "failing": "bad"},
    "dao": {
        "none": "ok",
        "performance_monitoring": "warn",
        "traffic_throttling": "bad",
        "immediate_isolation": "bad",
    },
    "golive": {"ready": "ok", "blocked": "bad", "insufficient_data": "warn"},
    "cicd": {"proceed": "ok", "block_deployment": "bad"},
    "canary": {"pass": "ok", "marginal": "warn", "fail": "bad", "insufficient_data": "warn"},
    "qerberos": {"low": "ok", "moderate": "warn", "high": "bad", "critical": "bad"},
}
# What the deployment flow does with a canary verdict (spec: "Deployment Flow").
CANARY_ACTIONS = {
    "pass": "increase traffic",
    "marginal": "hold and re-judge",
    "fail": "automatic rollback",
    "insufficient_data": "hold: not enough data",
}
COMPONENTS = (
    ("qnet", "QNET nodes"),
    ("dao", "DAO subnets"),
    ("golive", "Go-live modules"),
    ("cicd", "CI/CD gates"),
    ("canary", "Canaries"),
    ("qerberos", "Qerberos entities"),
)
QNET_ORDER = ("failing", "degraded", "healthy", "high_performing")


def health_of(engine: str, outcome: str) -> Status:
    return _HEALTH.get(engine, {}).get(outcome, "warn")


def _qnet_outcome(item: dict[str, Any]) -> str:
    # latest_decisions keeps QNET's weight as its outcome; the recommendation is in the output.
    return str(item["output"].get("recommendation", item["outcome"]))


def _outcome(engine: str, item: dict[str, Any]) -> str:
    if engine == "qnet":
        return _qnet_outcome(item)
    if engine == "qerberos":
        return str(item["output"].get("riskLevel", item["outcome"]))
    return str(item["outcome"])


def component_health(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Per component: how many subjects are ok / warn / bad, and the unhealthy ones."""
    out = []
    latest = model.get("latest", {})
    for engine, title in COMPONENTS:
        items = latest.get(engine, {})
        counts: Counter[str] = Counter()
        unhealthy = []
        for subject, item in sorted(items.items()):
            outcome = _outcome(engine, item)
            status = health_of(engine, outcome)
            counts[status] += 1
            if status != "ok":
                unhealthy.append({"subject": subject, "outcome": outcome, "status": status})
        worst = "bad" if counts["bad"] else "warn" if counts["warn"] else "ok"
        out.append(
            {
                "engine": engine,
                "component": title,
                "subjects": sum(counts.values()),
                "ok": counts["ok"],
                "warn": counts["warn"],
                "bad": counts["bad"],
                "status": worst if counts else "warn",
                "unhealthy": unhealthy,
            }
        )
    return out


def nodes(model: dict[str, Any]) -> list[dict[str, Any]]:
    """QNET nodes in force, worst recommendation first, then by score."""
    rows = []
    for node, item in model.get("latest", {}).get("qnet", {}).items():
        out = item["output"]
        rows.append(
            {
                "node": node,
                "recommendation": _qnet_outcome(item),
                "weight": out.get("routingWeight"),
                "score": out.get("overallScore"),
                "p95Ms": (item.get("inputs") or {}).get("p95Ms"),
                "status": health_of("qnet", _qnet_outcome(item)),
                "reason": (item.get("evidence") or {}).get("reason"),
            }
        )
    order = {name: i for i, name in enumerate(QNET_ORDER)}
    rows.sort(key=lambda r: (order.get(r["recommendation"], -1), r["score"] or 0.0, r["node"]))
    return rows


def nodes_by_recommendation(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Groups of nodes per recommendation (worst first) with their weights."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in nodes(model):
        groups.setdefault(row["recommendation"], []).append(row)
    return [
        {
            "recommendation": rec,
            "status": health_of("qnet", rec),
            "count": len(rows),
            "weights": sorted({r["weight"] for r in rows if r["weight"] is not None}),
            "nodes": rows,
        }
        for rec, rows in groups.items()
    ]


def daos(model: dict[str, Any]) -> list[dict[str, Any]]:
    """DAO subnets with SLO compliance and isolation recommendation, worst first."""
    rows = []
    for dao_id, item in model.get("latest", {}).get("dao", {}).items():
        out = item["output"]
        compliance = out.get("sloCompliance", {})
        rows.append(
            {
                "dao": dao_id,
                "score": out.get("performanceScore"),
                "isolation": out.get("isolationRecommendation", item["outcome"]),
                "burn": out.get("errorBudgetBurn"),
                "compliance": {
                    name: {
                        "status": c.get("status"),
                        "actual": c.get("actual"),
                        "target": c.get("target"),
                    }
                    for name, c in compliance.items()
                },
                "status": health_of("dao", item["outcome"]),
                "reason": out.get("reason"),
            }
        )
    rows.sort(key=lambda r: (r["score"] if r["score"] is not None else 0.0, r["dao"]))
    return rows


def readiness(model: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for subject, item in sorted(model.get("latest", {}).get("golive", {}).items()):
        out = item["output"]
        gates = out.get("gates", {})
        rows.append(
            {
                "module": out.get("module", subject.split("@")[0]),
                "environment": out.get("environment"),
                "status": out.get("overallStatus", item["outcome"]),
                "health": health_of("golive", item["outcome"]),
                "failed": [g for g, v in gates.items() if v.get("status") == "failed"],
                "insufficient": [
                    g for g, v in gates.items() if v.get("status") == "insufficient_data"
                ],
                "blockers": out.get("blockers", []),
            }
        )
    return rows


def verdicts(model: dict[str, Any], limit: int = 8) -> list[dict[str, Any]]:
    """Recent gate and canary verdicts, newest first, with what they mean for the rollout."""
    rows = []
    for v in model.get("verdicts", [])[:limit]:
        out = v.get("output") or {}
        if v["engine"] == "canary":
            detail = f"score {out.get('score')}: {out.get('reason')}"
            against = out.get("baseline")
            action = CANARY_ACTIONS.get(v["outcome"], v["outcome"])
        else:
            violations = ", ".join(x["type"] for x in out.get("violations", []))
            detail = violations or "no violations"
            against = (v.get("source") or {}).get("baseline")
            action = "proceed" if out.get("passed") else "block deployment"
        rows.append(
            {
                "kind": "canary" if v["engine"] == "canary" else "gate",
                "deployment": v["subject"],
                "baseline": against,
                "verdict": v["outcome"],
                "action": action,
                "detail": detail,
                "decidedAt": v["decidedAt"],
                "status": health_of(v["engine"], v["outcome"]),
            }
        )
    return rows


def alerts(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Firing alerts from the decisions in force, critical first."""
    latest = model.get("latest", {})
    out: list[dict[str, Any]] = []

    def fire(
        severity: str, component: str, subject: str, message: str, item: dict[str, Any]
    ) -> None:
        out.append(
            {
                "severity": severity,
                "component": component,
                "subject": subject,
                "message": message,
                "decisionId": item.get("decisionId"),
                "since": item.get("decidedAt"),
            }
        )

    for node, item in latest.get("qnet", {}).items():
        weight = item["output"].get("routingWeight")
        rec = _qnet_outcome(item)
        if rec in ("degraded", "failing"):  # QNET's own bands, as it labelled the node
            fire(
                "critical" if rec == "failing" else "warning",
                "QNET",
                node,
                f"node degradation: {rec}, score {item['output'].get('overallScore')}, "
                f"routing weight {weight}",
                item,
            )
    for dao_id, item in latest.get("dao", {}).items():
        if item["outcome"] != "none":
            fire(
                "critical" if item["outcome"] == "immediate_isolation" else "warning",
                "DAO",
                dao_id,
                f"subnet isolation: {item['outcome']} ({item['output'].get('reason')})",
                item,
            )
    for subject, item in latest.get("cicd", {}).items():
        if item["outcome"] == "block_deployment":
            kinds = ", ".join(v["type"] for v in item["output"].get("violations", []))
            fire("critical", "CI/CD", subject, f"deployment gate failed: {kinds}", item)
    for subject, item in latest.get("canary", {}).items():
        if item["outcome"] == "fail":
            fire(
                "critical",
                "CI/CD",
                subject,
                f"canary failed against {item['output'].get('baseline')} "
                f"(score {item['output'].get('score')}): automatic rollback",
                item,
            )
    for subject, item in latest.get("golive", {}).items():
        if item["outcome"] == "blocked":
            blockers = "; ".join(item["output"].get("blockers", []))
            fire("warning", "Go-live", subject, f"readiness blocked: {blockers}", item)
    for subject, item in latest.get("qerberos", {}).items():
        level = item["output"].get("riskLevel")
        if level in ("high", "critical"):
            fire(
                "critical" if level == "critical" else "warning",
                "Qerberos",
                subject,
                f"risk escalation: {level} (score {item['output'].get('riskScore')})",
                item,
            )
    out.sort(key=lambda a: (a["severity"] != "critical", a["component"], a["subject"]))
    return out


def risk_rows(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Per Qerberos entity: risk score against its anomalies and cost (from the decision's own
    inputs and evidence: what the engine saw)."""
    rows = []
    for entity, item in model.get("latest", {}).get("qerberos", {}).items():
        inputs, evidence, out = item.get("inputs") or {}, item.get("evidence") or {}, item["output"]
        rows.append(
            {
                "entity": entity,
                "kind": (evidence.get("source") or {}).get("entityKind"),
                "riskScore": out.get("riskScore"),
                "riskLevel": out.get("riskLevel"),
                "anomalies": inputs.get("anomaly_count") or 0,
                "regressions": inputs.get("regression_count") or 0,
                "cost": inputs.get("cost_current"),
                "costIncrease": evidence.get("costIncrease"),
                "signals": [s.get("type") for s in out.get("signals", [])],
            }
        )
    rows.sort(key=lambda r: (-(r["riskScore"] or 0.0), r["entity"]))
    return rows


def cost_rows(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Per module: the go-live cost gate's daily costs, fitted trend, forecast and budget."""
    rows = []
    for subject, item in sorted(model.get("latest", {}).get("golive", {}).items()):
        evidence = item.get("evidence") or {}
        gate = (item["output"].get("gates") or {}).get("cost", {})
        cost = evidence.get("cost") or {}
        rows.append(
            {
                "subject": subject,
                "module": item["output"].get("module", subject.split("@")[0]),
                "dailyCosts": (item.get("inputs") or {}).get("daily_costs") or [],
                "slopePerDay": cost.get("slopePerDay"),
                "intercept": cost.get("intercept"),
                "forecastMonthlyCost": cost.get("forecastMonthlyCost"),
                "monthlyBudget": cost.get("monthlyBudget"),
                "utilization": gate.get("measured"),
                "limit": gate.get("threshold"),
                "status": gate.get("status"),
                "message": gate.get("message"),
                "asOf": evidence.get("asOf"),
            }
        )
    return rows


def entities(model: dict[str, Any]) -> dict[str, list[str]]:
    """Entity ids with series, per kind (the deep-dive's pickers)."""
    out: dict[str, list[str]] = {}
    for series in model.get("series", {}).values():
        out.setdefault(series["kind"], []).append(series["id"])
    return {kind: sorted(ids) for kind, ids in sorted(out.items())}


def default_entity(model: dict[str, Any]) -> tuple[str, str] | None:
    """The entity a deep-dive opens on: the worst node, else the first entity with a series."""
    ranked = nodes(model)
    if ranked and f"node:{ranked[0]['node']}" in model.get("series", {}):
        return "node", ranked[0]["node"]
    for series in model.get("series", {}).values():
        return series["kind"], series["id"]
    return None
