"""A hand-built OTLP/JSON trace whose critical path is known."""

from __future__ import annotations

from typing import Any

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_764_400_000_000_000_000  # ns: 2025-11-29T07:06:40Z

# name: (span id, parent, start ms, end ms, service, entity)
SPANS = {
    "checkout": ("00000000000000a1", None, 0, 100, "api", None),
    "auth": ("00000000000000a2", "00000000000000a1", 5, 20, "auth", None),
    "db-query": ("00000000000000a3", "00000000000000a1", 25, 70, "db", "node-17"),
    "cache": ("00000000000000a4", "00000000000000a1", 30, 40, "cache", None),
    "disk": ("00000000000000a5", "00000000000000a3", 30, 60, "db", "node-17"),
    "render": ("00000000000000a6", "00000000000000a1", 75, 95, "api", None),
}
# Walking back from the end: render, the db query waiting on its disk read, auth; the cache
# lookup runs beside the db query and is never waited on.
CRITICAL_MS = {"checkout": 20.0, "render": 20.0, "db-query": 15.0, "disk": 30.0, "auth": 15.0}


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def document() -> dict[str, Any]:
    by_service: dict[str, list[dict[str, Any]]] = {}
    for name, (span_id, parent, start, end, service, entity) in SPANS.items():
        span: dict[str, Any] = {
            "traceId": TRACE_ID,
            "spanId": span_id,
            "name": name,
            "kind": 2 if parent is None else 3,
            "startTimeUnixNano": str(T0 + start * 1_000_000),
            "endTimeUnixNano": str(T0 + end * 1_000_000),
            "attributes": [{"key": "http.status_code", "value": {"intValue": "200"}}],
            "status": {"code": 1},
        }
        if parent:
            span["parentSpanId"] = parent
        if entity:
            span["attributes"] += [
                _attr("ecoperf.entity.kind", "node"),
                _attr("ecoperf.entity.id", entity),
            ]
        by_service.setdefault(service, []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        _attr("service.name", service),
                        _attr("deployment.environment", "production"),
                    ]
                },
                "scopeSpans": [{"scope": {"name": "ecoperf-test"}, "spans": spans}],
            }
            for service, spans in by_service.items()
        ]
    }
