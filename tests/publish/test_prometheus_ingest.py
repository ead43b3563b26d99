"""Prometheus → mapping → warehouse, against a real Prometheus scraping a prometheus_client
exporter this test runs: what is stored equals what the exporter served."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.ingest.prometheus import ingest_prometheus, load_mapping
from ecoperf_core.warehouse import reader
from tests.publish.servers import free_port, prometheus

BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
RATE_PER_S = {"node-a": 200, "node-b": 100}
# Latency cycles (seconds): node-a uniform over 10..190 ms; node-b 40 ms with a 4% tail at 400 ms,
# so its p95 is fast and its p99 slow (neither quantile sits on the edge of the tail).
CYCLES = {
    "node-a": [0.010 + 0.18 * i / 99 for i in range(100)],
    "node-b": [0.400 if i % 33 == 0 else 0.040 for i in range(100)],
}
FAILS_EVERY = {"node-a": 20, "node-b": 10}  # error ratio 5% and 10%
HITS = {"node-a": 3, "node-b": 1}  # cache hits in every 4 lookups: 75% and 25%


def _true_quantile(node: str, q: float) -> float:
    return float(np.quantile(np.array(CYCLES[node]) * 1000, q, method="inverted_cdf"))


def _bucket_of(ms: float) -> tuple[float, float]:
    edges = [0.0, *(b * 1000 for b in BUCKETS)]
    for low, high in itertools.pairwise(edges):
        if low < ms <= high:
            return low, high
    raise AssertionError(ms)


class Exporter:
    """Serves request, failure and cache counters and a latency histogram at fixed rates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "ecoperf_request_duration_seconds", "latency", ["node"],
            buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.requests = Counter("ecoperf_requests", "requests", ["node"], registry=self.registry)
        self.failed = Counter("ecoperf_requests_failed", "failed", ["node"], registry=self.registry)
        self.hits = Counter("ecoperf_cache_hits", "hits", ["node"], registry=self.registry)
        self.lookups = Counter("ecoperf_cache_lookups", "lookups", ["node"], registry=self.registry)
        self.port = free_port()
        self.server, self.thread = start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )
        self.stop = threading.Event()
        self.ticker = threading.Thread(target=self._run, daemon=True)
        self.ticker.start()

    def _run(self) -> None:
        counts = dict.fromkeys(RATE_PER_S, 0)
        tick = 0.02
        started = time.monotonic()
        while not self.stop.is_set():
            elapsed = time.monotonic() - started
            for node, rate in RATE_PER_S.items():
                due = int(elapsed * rate)
                for n in range(counts[node], due):
                    self.latency.labels(node).observe(CYCLES[node][n % 100])
                    self.requests.labels(node).inc()
                    if n % FAILS_EVERY[node] == 0:
                        self.failed.labels(node).inc()
                    self.lookups.labels(node).inc()
                    if n % 4 < HITS[node]:
                        self.hits.labels(node).inc()
                counts[node] = due
            time.sleep(tick)

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()


def _wait_for_data(url: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + 60
    query = "count_over_time(ecoperf_requests_total[1m])"
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=2).json()
        result = body["data"]["result"]
        if len(result) == 2 and min(float(r["value"][1]) for r in result) >= seconds:
            return
        time.sleep(0.25)
    raise AssertionError("Prometheus never scraped enough of the exporter")


MAPPING = """
entity_kind = "node"
entity_label = "node"
step_s = 0.5
lookback_s = 30.0
[metrics]
latency_p95 = 'histogram_quantile(0.95, sum by (node, le) (rate(ecoperf_request_duration_seconds_bucket[2s]))) * 1000'
latency_p99 = 'histogram_quantile(0.99, sum by (node, le) (rate(ecoperf_request_duration_seconds_bucket[2s]))) * 1000'
error_rate = 'sum by (node) (rate(ecoperf_requests_failed_total[2s])) / sum by (node) (rate(ecoperf_requests_total[2s]))'
throughput_rps = 'sum by (node) (rate(ecoperf_requests_total[2s]))'
cache_hit_rate = 'sum by (node) (rate(ecoperf_cache_hits_total[2s])) / sum by (node) (rate(ecoperf_cache_lookups_total[2s]))'
"""


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_runtime")
def test_prometheus_data_through_the_mapping_equals_what_the_exporter_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = Exporter()
    try:
        with prometheus(
            tmp_path / "prom", [f"127.0.0.1:{exporter.port}"], scrape_interval="500ms"
        ) as prom:
            _wait_for_data(prom.url, 10)  # 5 s of scrapes
            mapping_file = tmp_path / "mapping.toml"
            mapping_file.write_text(MAPPING)
            mapping = load_mapping(mapping_file)
            db = tmp_path / "home" / "ecoperf.duckdb"
            end = datetime.now(UTC)
            # Evaluate only instants whose 2 s window lies inside the scraped data.
            start = end - timedelta(seconds=2.5)
            first = ingest_prometheus(db, prom.url, mapping, start=start, end=end)
            # An overlapping pull (half the range again, plus newer data) stores only what is new.
            time.sleep(1)
            second = ingest_prometheus(
                db, prom.url, mapping, start=end - timedelta(seconds=1), end=datetime.now(UTC)
            )
            # And the CLI door (the ingest-prometheus flow) over the first range stores nothing.
            monkeypatch.setenv("ECOPERF_DB", str(db))
            cli = CliRunner().invoke(
                app,
                ["ingest", "--from", "prometheus", prom.url, "--mapping", str(mapping_file),
                 "--start", start.isoformat(), "--end", end.isoformat(), "--no-rollup", "--json"],
            )  # fmt: skip
    finally:
        exporter.close()
    assert first.points > 0 and first.new_points == first.points, first.to_dict()
    assert all(b.status == "loaded" for b in first.batches)
    assert 0 < second.new_points < second.points, "the overlap was recognised"
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["prometheus"]["newPoints"] == 0

    with reader(db) as con:
        duplicates = con.execute(
            """SELECT count(*) FROM (SELECT ts, entity_id, metric FROM samples
               GROUP BY ALL HAVING count(*) > 1)"""
        ).fetchall()[0][0]
        stored = con.execute(
            """SELECT entity_id, metric, min(value), max(value), count(*) FROM samples
               GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    assert duplicates == 0
    values = {(node, metric): (low, high, n) for node, metric, low, high, n in stored}
    assert len(values) == 10, values
    for node, rate in RATE_PER_S.items():
        for q, metric in ((0.95, "latency_p95"), (0.99, "latency_p99")):
            # histogram_quantile interpolates inside a bucket: the stored value lies in the
            # bucket that holds the exporter's true quantile.
            low, high = _bucket_of(_true_quantile(node, q))
            got_low, got_high, _n = values[(node, metric)]
            assert low <= got_low and got_high <= high, (node, metric, got_low, got_high, low, high)
        got = values[(node, "error_rate")]
        expected = 1 / FAILS_EVERY[node]
        assert abs(got[0] - expected) < 0.01 and abs(got[1] - expected) < 0.01, (node, got)
        got = values[(node, "cache_hit_rate")]
        expected = HITS[node] / 4
        assert abs(got[0] - expected) < 0.02 and abs(got[1] - expected) < 0.02, (node, got)
        got = values[(node, "throughput_rps")]
        assert 0.85 * rate < got[0] and got[1] < 1.15 * rate, (node, got)
