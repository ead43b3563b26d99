"""The dashboard read model: what every dashboard shows, read out of the warehouse in one go.

Built under a shared reader (a few queries, well under a second on the demo) by the ``publish``
flow, which publishes it beside the serving snapshot (``<home>/snapshot/dashboard.json``, atomic
rename), so the API's dashboard pages never open the warehouse; the terminal view
(``ecosystem-perf dashboard``) builds it directly. It holds raw facts only: the decisions in
force (with inputs and evidence), recent deployment verdicts, hourly rollup series, stored
detections, QNET's weight history. :mod:`ecoperf_core.dashboard.views` and
:mod:`ecoperf_core.dashboard.figures` derive everything shown from it (pure functions).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from ecoperf_core.publish.events_feed import atomic_write

DASHBOARD_VERSION = 1
# Rollup columns the series carry, by their name in the model.
SERIES_COLUMNS = {
    "p50": "latency_p50",
    "p95": "latency_p95",
    "p99": "latency_p99",
    "errorRate": "error_rate",
    "availability": "availability",
    "cost": "cost",
    "requests": "requests",
}
SERIES_KINDS = ("node", "dao", "module", "deployment", "operation", "user")


def dashboard_path(snapshot_path: Path) -> Path:
    """Where the dashboard model is published: beside the serving snapshot."""
    return snapshot_path.with_name("dashboard.json")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _num(value: Any) -> float | None:
    """A float rounded to 6 significant digits (the file stays small), None for NULL/NaN."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return float(f"{number:.6g}")


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


def _latest_in_force(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    rows = con.execute(
        """SELECT h.engine, h.subject, h.decision_id, h.outcome, h.decided_at,
                  d.output, d.inputs, d.evidence, d.policy_version
           FROM latest_decisions AS h JOIN decisions AS d USING (decision_id)
           ORDER BY h.engine, h.subject"""
    ).fetchall()
    for (
        engine,
        subject,
        decision_id,
        outcome,
        decided_at,
        output,
        inputs,
        evidence,
        version,
    ) in rows:
        latest.setdefault(engine, {})[subject] = {
            "decisionId": decision_id,
            "outcome": outcome,
            "decidedAt": _iso(decided_at),
            "policyVersion": version,
            "output": _json(output),
            "inputs": _json(inputs),
            "evidence": _json(evidence),
        }
    return latest


def _verdicts(con: duckdb.DuckDBPyConnection, limit: int) -> list[dict[str, Any]]:
    """The latest gate and canary verdicts, newest first (what-ifs on payloads included: a CI
    pipeline's gate check arrives as a payload)."""
    rows = con.execute(
        f"""SELECT decision_id, engine, subject, outcome, decided_at, output, evidence
            FROM decisions WHERE engine IN ('cicd', 'canary') AND NOT shadow
            ORDER BY decided_at DESC LIMIT {int(limit)}"""
    ).fetchall()
    out = []
    for decision_id, engine, subject, outcome, decided_at, output, evidence in rows:
        ev = _json(evidence) or {}
        out.append(
            {
                "decisionId": decision_id,
                "engine": engine,
                "subject": subject,
                "outcome": outcome,
                "decidedAt": _iso(decided_at),
                "output": _json(output),
                "source": ev.get("source", {}),
            }
        )
    return out


def _series(
    con: duckdb.DuckDBPyConnection, window: str, start: datetime, environment: str
) -> dict[str, dict[str, Any]]:
    columns = ", ".join(SERIES_COLUMNS.values())
    rows = con.execute(
        f"""SELECT entity_kind, entity_id, window_start, {columns}
            FROM rollups
            WHERE "window" = $w AND environment = $e AND window_start >= $start
            ORDER BY entity_kind, entity_id, window_start""",
        {"w": window, "e": environment, "start": start},
    ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    names = list(SERIES_COLUMNS)
    for kind, entity, window_start, *values in rows:
        if kind not in SERIES_KINDS:
            continue
        series = out.setdefault(
            f"{kind}:{entity}", {"kind": kind, "id": entity, "t": [], **{n: [] for n in names}}
        )
        series["t"].append(window_start.isoformat())
        for name, value in zip(names, values, strict=True):
            series[name].append(_num(value))
    return out


def _detections(
    con: duckdb.DuckDBPyConnection, start: datetime, environment: str
) -> dict[str, list[dict[str, Any]]]:
    rows = con.execute(
        """SELECT entity_kind, entity_id, metric, "window", detector, detected_at, before_level,
                  after_level, relative_change, p_value, score,
                  evidence->>'rawBefore', evidence->>'rawAfter', evidence->>'normalisation'
           FROM detections WHERE environment = $e AND detected_at >= $start
           ORDER BY entity_kind, entity_id, detected_at""",
        {"e": environment, "start": start},
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        kind, entity, metric, window, detector, at, before, after, change, p, score = row[:11]
        raw_before, raw_after, normalisation = row[11:]
        out.setdefault(f"{kind}:{entity}", []).append(
            {
                "metric": metric,
                "window": window,
                "detector": detector,
                "at": at.isoformat(),
                "before": _num(before),
                "after": _num(after),
                "relativeChange": _num(change),
                "pValue": _num(p),
                "score": _num(score),
                "rawBefore": _num(raw_before),
                "rawAfter": _num(raw_after),
                "normalisation": normalisation,
            }
        )
    return out


def _weight_history(con: duckdb.DuckDBPyConnection, per_node: int) -> dict[str, list[Any]]:
    """Routing weight per node over data time (the evaluation's as-of), what-ifs left out."""
    rows = con.execute(
        f"""SELECT subject, coalesce(TRY_CAST(evidence->>'asOf' AS TIMESTAMP), decided_at) AS data_time,
                   TRY_CAST(output->>'routingWeight' AS DOUBLE), output->>'recommendation',
                   TRY_CAST(output->>'overallScore' AS DOUBLE)
            FROM decisions
            WHERE engine = 'qnet' AND NOT shadow AND coalesce(evidence->>'trigger', '') <> 'payload'
            QUALIFY row_number() OVER (PARTITION BY subject ORDER BY decided_at DESC) <= {int(per_node)}
            ORDER BY subject, data_time, decided_at"""
    ).fetchall()
    out: dict[str, list[Any]] = {}
    for subject, at, weight, recommendation, score in rows:
        out.setdefault(subject, []).append(
            {
                "at": at.isoformat(),
                "weight": weight,
                "recommendation": recommendation,
                "score": score,
            }
        )
    return out


def build_dashboard(
    db_path: Path,
    timeout_s: float = 600.0,
    environment: str = "production",
    series_days: int = 7,
    verdicts: int = 20,
    weight_points: int = 500,
    series: bool = True,
) -> dict[str, Any]:
    """Read the dashboard model out of the warehouse under one shared reader; without
    ``series`` (the terminal view draws no charts) rollup series, detections and the weight
    history are left out and the read is a few small queries."""
    from ecoperf_core.errors import NotFoundError
    from ecoperf_core.evaluation import readers
    from ecoperf_core.warehouse import reader

    with reader(db_path, timeout_s=timeout_s) as con:
        try:
            as_of: datetime | None = readers.latest_data_time(con)
        except NotFoundError:
            as_of = None
        latest = _latest_in_force(con)
        recent_verdicts = _verdicts(con, verdicts)
        weights = _weight_history(con, weight_points) if series else {}
        rollups: dict[str, dict[str, Any]] = {}
        detections: dict[str, list[dict[str, Any]]] = {}
        if as_of is not None and series:
            start = as_of - timedelta(days=series_days)
            rollups = _series(con, "1h", start, environment)
            detections = _detections(con, start, environment)
    return {
        "version": DASHBOARD_VERSION,
        "builtAt": datetime.now(UTC).isoformat(),
        "asOf": _iso(as_of),
        "environment": environment,
        "seriesWindow": "1h",
        "seriesDays": series_days,
        "latest": latest,
        "verdicts": recent_verdicts,
        "weights": weights,
        "series": rollups,
        "detections": detections,
    }


def write_dashboard(model: dict[str, Any], path: Path) -> Path:
    """Publish the model by atomic rename (readers see the whole old file or the whole new)."""
    atomic_write(path, json.dumps(model, separators=(",", ":"), default=str).encode())
    return path


__all__ = ["build_dashboard", "dashboard_path", "write_dashboard"]
