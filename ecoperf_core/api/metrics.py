"""``/metrics``: Prometheus exposition from the API's own registry.

Decision gauges (node scores and weights, gate results, DAO status, readiness) are computed at
scrape time from the serving snapshot (a custom collector: nothing to keep in sync); request
latency is a histogram by route template and status, observed by an ASGI middleware.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ecoperf_core.api.snapshot import SnapshotStore

DAO_LEVELS = ("none", "performance_monitoring", "traffic_throttling", "immediate_isolation")


class SnapshotCollector(Collector):
    """Gauges of the decisions in force, read from the snapshot at each scrape."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.store.get()
        score = GaugeMetricFamily(
            "ecoperf_node_score", "QNET overall score (0-1).", labels=["node"]
        )
        weight = GaugeMetricFamily("ecoperf_node_weight", "QNET routing weight.", labels=["node"])
        for node, item in snap.latest("qnet").items():
            out = item.get("output", {})
            if isinstance(out.get("overallScore"), int | float):
                score.add_metric([node], float(out["overallScore"]))
            if isinstance(out.get("routingWeight"), int | float):
                weight.add_metric([node], float(out["routingWeight"]))
        gate = GaugeMetricFamily(
            "ecoperf_gate_passed", "CI/CD gate result (1 passed, 0 blocked).", labels=["deployment"]
        )
        for subject, item in snap.latest("cicd").items():
            gate.add_metric([subject], 1.0 if item.get("output", {}).get("passed") else 0.0)
        dao = GaugeMetricFamily(
            "ecoperf_dao_isolation_level",
            "DAO isolation recommendation (0 none, 1 monitoring, 2 throttling, 3 isolation).",
            labels=["dao"],
        )
        dao_score = GaugeMetricFamily(
            "ecoperf_dao_performance_score", "DAO performance score (0-100).", labels=["dao"]
        )
        for subject, item in snap.latest("dao").items():
            out = item.get("output", {})
            level = out.get("isolationRecommendation")
            if level in DAO_LEVELS:
                dao.add_metric([subject], float(DAO_LEVELS.index(level)))
            if isinstance(out.get("performanceScore"), int | float):
                dao_score.add_metric([subject], float(out["performanceScore"]))
        ready = GaugeMetricFamily(
            "ecoperf_golive_ready", "Go-live readiness (1 ready).", labels=["module", "environment"]
        )
        for item in snap.latest("golive").values():
            out = item.get("output", {})
            ready.add_metric(
                [str(out.get("module")), str(out.get("environment"))],
                1.0 if out.get("overallStatus") == "ready" else 0.0,
            )
        age = GaugeMetricFamily("ecoperf_snapshot_age_seconds", "Age of the serving snapshot.")
        built = snap.built_at()
        if built is not None:
            age.add_metric([], max(0.0, time.time() - built.timestamp()))
        yield from (score, weight, gate, dao, dao_score, ready, age)


class ApiMetrics:
    """The registry and the request histogram."""

    def __init__(self, store: SnapshotStore) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "ecoperf_api_request_seconds",
            "API request latency by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.registry.register(SnapshotCollector(store))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.latency.labels(method, route, str(status)).observe(seconds)


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's path template (bounded label cardinality), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
