"""Reading spans from the warehouse: one trace, the traces of a slow window, a breakdown."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import duckdb

from ecoperf_core.errors import FieldProblem, NotFoundError, ValidationError
from ecoperf_core.traces.analysis import latency_breakdown, trace_report

_COLUMNS = (
    "trace_id, span_id, parent_span_id, service, name, kind, start_ts, end_ts, duration_ms, "
    "status, entity_kind, entity_id, environment"
)


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def trace_spans(con: duckdb.DuckDBPyConnection, trace_id: str) -> list[dict[str, Any]]:
    return _rows(
        con.execute(
            f"SELECT {_COLUMNS} FROM spans WHERE trace_id = $t ORDER BY start_ts, span_id",
            {"t": trace_id.lower()},
        )
    )


def trace(con: duckdb.DuckDBPyConnection, trace_id: str) -> dict[str, Any]:
    """The span tree of one trace with timings and its critical path."""
    if not trace_id or any(c not in "0123456789abcdefABCDEF" for c in trace_id):
        raise ValidationError(
            "trace", [FieldProblem("TRACE_ID", "expected hex digits", trace_id or None)]
        )
    spans = trace_spans(con, trace_id)
    if not spans:
        raise NotFoundError(f"no trace {trace_id!r} in the warehouse (load OTLP/JSON files)")
    report = trace_report(spans)
    first = min(s["start_ts"] for s in spans)
    return {"traceId": trace_id.lower(), "start": first.isoformat(), **report}


def example_traces(
    con: duckdb.DuckDBPyConnection,
    entity_id: str,
    start: datetime,
    end: datetime,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """The traces that explain a slow window of an entity: traces with a span of the entity
    starting in [start, end), slowest entity span first, each with its critical path's biggest
    contributor."""
    rows = con.execute(
        """SELECT trace_id, max(duration_ms) AS entity_ms, count(*) AS entity_spans,
                  bool_or(status = 'error') AS has_error
           FROM spans WHERE entity_id = $e AND start_ts >= $a AND start_ts < $b
           GROUP BY trace_id ORDER BY entity_ms DESC, trace_id LIMIT $n""",
        {"e": entity_id, "a": start, "b": end, "n": int(limit)},
    ).fetchall()
    out = []
    for trace_id, entity_ms, entity_spans, has_error in rows:
        report = trace_report(trace_spans(con, trace_id))
        path = report["criticalPath"]
        shares: dict[str, float] = {}
        for seg in path:
            label = f"{seg['service']}/{seg['name']}"
            shares[label] = shares.get(label, 0.0) + seg["durationMs"]
        top = max(shares.items(), key=lambda kv: kv[1]) if shares else ("", 0.0)
        out.append(
            {
                "traceId": trace_id,
                "durationMs": report["durationMs"],
                "entityMs": round(float(entity_ms), 3),
                "entitySpans": int(entity_spans),
                "error": bool(has_error),
                "criticalTop": top[0],
                "criticalTopShare": round(top[1] / report["durationMs"], 4)
                if report["durationMs"]
                else 0.0,
            }
        )
    return out


def breakdown(
    con: duckdb.DuckDBPyConnection,
    start: datetime | None = None,
    end: datetime | None = None,
    service: str | None = None,
    max_traces: int = 2000,
) -> list[dict[str, Any]]:
    """Latency breakdown per service and operation over the traces whose root starts in the
    range (the most recent ``max_traces`` of them)."""
    where, params = ["parent_span_id IS NULL"], {}
    if start is not None:
        where.append("start_ts >= $a")
        params["a"] = start
    if end is not None:
        where.append("start_ts < $b")
        params["b"] = end
    ids = [
        r[0]
        for r in con.execute(
            f"""SELECT trace_id FROM spans WHERE {" AND ".join(where)}
                ORDER BY start_ts DESC LIMIT {int(max_traces)}""",
            params,
        ).fetchall()
    ]
    if not ids:
        return []
    spans = _rows(
        con.execute(
            f"SELECT {_COLUMNS} FROM spans WHERE list_contains($ids, trace_id)", {"ids": ids}
        )
    )
    traces: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        traces.setdefault(s["trace_id"], []).append(s)
    rows = latency_breakdown(traces)
    return [r for r in rows if service is None or r["service"] == service]


def window_of(at: datetime, minutes: int = 30) -> tuple[datetime, datetime]:
    return at - timedelta(minutes=minutes), at + timedelta(minutes=minutes)
