"""The two input shapes ecoperf ingests and the column names it accepts for them.

``requests``: raw per-request samples, one row per request (time, entity, latency_ms, ok/status,
cache_hit, cost, ...). ``points``: pre-aggregated metric points in the spec's payload shape
(latency p95/p99, errorRate, capacity utilization, costMetrics, availability uptime, throughput rps),
flat (CSV/Parquet columns) or nested (JSON objects such as ``{"latency": {"p95": 120}}``).

Column names are matched case- and style-insensitively: ``errorRate``, ``error_rate`` and
``Error-Rate`` are the same column; nested fields join with ``_`` (``capacity.utilization`` ->
``capacity_utilization``) before aliases apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ecoperf_core.warehouse.schema import ENTITY_KINDS

Shape = Literal["requests", "points"]

REQUEST_COLUMNS: tuple[str, ...] = (
    "time",
    "entity_kind",
    "entity_id",
    "environment",
    "op_type",
    "latency_ms",
    "ok",
    "status",
    "cache_hit",
    "cost",
    "labels",
)

# metric -> (lowest allowed, highest allowed); None means unbounded above.
POINT_METRICS: dict[str, tuple[float, float | None]] = {
    "latency_p50": (0.0, None),
    "latency_p95": (0.0, None),
    "latency_p99": (0.0, None),
    "error_rate": (0.0, 1.0),
    "cache_hit_rate": (0.0, 1.0),
    "utilization": (0.0, 1.0),
    "availability": (0.0, 100.0),
    "throughput_rps": (0.0, None),
    "requests": (0.0, None),
    "cost": (0.0, None),
}
POINT_COLUMNS: tuple[str, ...] = (
    "time",
    "entity_kind",
    "entity_id",
    "environment",
    "labels",
    *POINT_METRICS,
)

ALIASES: dict[str, str] = {
    "timestamp": "time",
    "ts": "time",
    "kind": "entity_kind",
    "entity": "entity_id",
    "id": "entity_id",
    "env": "environment",
    "operation_type": "op_type",
    "latency": "latency_ms",
    "duration_ms": "latency_ms",
    "success": "ok",
    "status_code": "status",
    "latency_median": "latency_p50",
    "capacity_utilization": "utilization",
    "cost_metrics_current": "cost",
    "cost_current": "cost",
    "availability_uptime": "availability",
    "uptime": "availability",
    "throughput": "throughput_rps",
    "rps": "throughput_rps",
    "hit_rate": "cache_hit_rate",
    "cache_hit_ratio": "cache_hit_rate",
}

# Columns that name the entity and its kind at once, as the spec's payloads do ("nodeId": "node-1").
ENTITY_ID_COLUMNS: dict[str, str] = {
    "node_id": "node",
    "dao_id": "dao",
    "module": "module",
    "module_id": "module",
    "deployment_id": "deployment",
    "operation_id": "operation",
    "user_id": "user",
}

# Fields of the spec's payloads that carry no point-in-time value and are deliberately not stored.
IGNORED_COLUMNS: frozenset[str] = frozenset({"cost_metrics_historical", "latency_trend"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def normalize_name(name: str) -> str:
    """``errorRate`` / ``Error-Rate`` / ``error rate`` -> ``error_rate``."""
    snake = _CAMEL.sub("_", name.strip()).lower()
    return _SEPARATORS.sub("_", snake).strip("_")


def canonical_name(name: str) -> str:
    normalized = normalize_name(name)
    return ALIASES.get(normalized, normalized)


@dataclass(frozen=True)
class ShapeSpec:
    shape: Shape
    allowed: tuple[str, ...]


SHAPES: dict[Shape, ShapeSpec] = {
    "requests": ShapeSpec("requests", REQUEST_COLUMNS),
    "points": ShapeSpec("points", POINT_COLUMNS),
}

__all__ = [
    "ENTITY_ID_COLUMNS",
    "ENTITY_KINDS",
    "IGNORED_COLUMNS",
    "POINT_METRICS",
    "SHAPES",
    "Shape",
    "canonical_name",
    "normalize_name",
]
