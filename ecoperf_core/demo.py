"""A deterministic demo ecosystem with incidents the engines must find.

``generate_demo(out_dir, size=...)`` writes, for a fixed seed and a fixed three-day period:

- ``requests-dayN-partK.parquet``: raw per-request samples for 50 nodes, 10 DAOs, 5 modules, 5
  operations (read and write), two deployments (baseline v2.0.9, candidate v2.1.0 canaried over the
  last 12 hours) and 20 users, with daily traffic and latency cycles;
- ``node_utilization.csv``: capacity utilization points per node every 5 minutes;
- ``dao_subnets.jsonl``: per-DAO points in the spec's nested payload shape every 5 minutes;
- ``traces.otlp.json``: OpenTelemetry traces (OTLP/JSON) around the incidents.

Injected incidents (``INCIDENTS`` says when and where):

- node-17's latency more than doubles (x2.2) (and its errors rise) from day 3, 06:00; its cause,
  capacity saturation, comes first: its utilization jumps by 0.3 from 05:30;
- dao-07's availability drops to about 96% from day 3, 08:00 to 14:00;
- module qdrive's cost per request ramps threefold over the period, past its budget;
- candidate v2.1.0 regresses in its tail only: 3% of its requests take three times as long;
- user-013's cost and latency climb over the last day.

``size`` is the number of raw request samples; the same seed and size give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

DEMO_START = datetime(2026, 11, 27, tzinfo=UTC)
DEMO_DAYS = 3
DEFAULT_SIZE = 2_000_000
MAX_ROWS_PER_FILE = 5_000_000
SEED = 20261127

NODES = [f"node-{i:02d}" for i in range(1, 51)]
DAOS = [f"dao-{i:02d}" for i in range(1, 11)]
MODULES = ["qwallet", "qindex", "qmarket", "qdrive", "qmail"]
OPERATIONS = {
    "user-profile-read": "read",
    "user-profile-update": "write",
    "wallet-transfer": "write",
    "market-quote": "read",
    "index-search": "read",
}
BASELINE_VERSION = "v2.0.9"
CANDIDATE_VERSION = "v2.1.0"
USERS = [f"user-{i:03d}" for i in range(1, 21)]

INCIDENTS: dict[str, dict[str, object]] = {
    "degrading_node": {
        "entity": "node-17",
        "starts": DEMO_START + timedelta(days=2, hours=6),
        # The injected cause, half an hour earlier: what `ecosystem-perf why` must rank first.
        "cause": {
            "entity": "node-17",
            "metric": "utilization",
            "starts": DEMO_START + timedelta(days=2, hours=5, minutes=30),
        },
    },
    "dao_availability_drop": {
        "entity": "dao-07",
        "starts": DEMO_START + timedelta(days=2, hours=8),
        "ends": DEMO_START + timedelta(days=2, hours=14),
    },
    "cost_ramp": {"entity": "qdrive", "starts": DEMO_START},
    "tail_regression": {
        "entity": CANDIDATE_VERSION,
        "baseline": BASELINE_VERSION,
        "starts": DEMO_START + timedelta(days=DEMO_DAYS, hours=-12),
    },
    "suspicious_user": {"entity": "user-013", "starts": DEMO_START + timedelta(days=2)},
}

_KIND_SHARES = {
    "node": 0.40,
    "dao": 0.15,
    "module": 0.20,
    "operation": 0.10,
    "deployment": 0.10,
    "user": 0.05,
}


@dataclass(frozen=True)
class _Streams:
    kind: np.ndarray
    entity: np.ndarray
    share: np.ndarray
    median_ms: np.ndarray
    error_rate: np.ndarray
    cache_p: np.ndarray  # < 0: not cacheable
    cost: np.ndarray
    write_share: np.ndarray  # share of write operations; < 0: op type unknown


def _streams(rng: np.random.Generator) -> _Streams:
    rows: list[tuple[str, str, float, float, float, float, float, float]] = []
    for node in NODES:
        rows.append(
            (
                "node",
                node,
                _KIND_SHARES["node"] / len(NODES),
                rng.uniform(40, 70),
                rng.uniform(0.001, 0.003),
                rng.uniform(0.88, 0.95),
                rng.uniform(1e-4, 3e-4),
                -1,
            )
        )
    for dao in DAOS:
        rows.append(
            (
                "dao",
                dao,
                _KIND_SHARES["dao"] / len(DAOS),
                rng.uniform(60, 110),
                rng.uniform(0.0002, 0.0006),
                rng.uniform(0.88, 0.95),
                rng.uniform(2e-4, 4e-4),
                -1,
            )
        )
    for module in MODULES:
        rows.append(
            (
                "module",
                module,
                _KIND_SHARES["module"] / len(MODULES),
                rng.uniform(35, 55),
                rng.uniform(0.0002, 0.0005),
                rng.uniform(0.90, 0.95),
                rng.uniform(2e-4, 3e-4),
                0.3,
            )
        )
    for operation, op_type in OPERATIONS.items():
        rows.append(
            (
                "operation",
                operation,
                _KIND_SHARES["operation"] / len(OPERATIONS),
                rng.uniform(80, 140) if op_type == "write" else rng.uniform(30, 60),
                rng.uniform(0.0005, 0.002),
                rng.uniform(0.85, 0.95) if op_type == "read" else -1,
                rng.uniform(1e-4, 5e-4),
                1.0 if op_type == "write" else 0.0,
            )
        )
    for version in (BASELINE_VERSION, CANDIDATE_VERSION):
        rows.append(
            ("deployment", version, _KIND_SHARES["deployment"] / 2, 50.0, 0.002, 0.9, 2e-4, 0.3)
        )
    for user in USERS:
        rows.append(
            (
                "user",
                user,
                _KIND_SHARES["user"] / len(USERS),
                rng.uniform(50, 90),
                rng.uniform(0.001, 0.003),
                -1,
                rng.uniform(2e-4, 4e-4),
                -1,
            )
        )
    columns = list(zip(*rows, strict=True))
    share = np.asarray(columns[2], dtype=float)
    return _Streams(
        kind=np.asarray(columns[0], dtype=object),
        entity=np.asarray(columns[1], dtype=object),
        share=share / share.sum(),
        median_ms=np.asarray(columns[3], dtype=float),
        error_rate=np.asarray(columns[4], dtype=float),
        cache_p=np.asarray(columns[5], dtype=float),
        cost=np.asarray(columns[6], dtype=float),
        write_share=np.asarray(columns[7], dtype=float),
    )


def _diurnal(seconds: np.ndarray) -> np.ndarray:
    """Daily cycle in [-1, 1], peaking at 15:00 UTC."""
    return np.sin(2 * np.pi * (seconds / 86400.0 - 9 / 24))


def _index(streams: _Streams, entity: str) -> int:
    return int(np.flatnonzero(streams.entity == entity)[0])


def _offset(moment: object) -> float:
    assert isinstance(moment, datetime)
    return (moment - DEMO_START).total_seconds()


def _request_chunk(
    rng: np.random.Generator, streams: _Streams, n: int, t0: float, t1: float
) -> dict[str, np.ndarray]:
    # Diurnal traffic by thinning uniform arrivals: peak 1.5x, trough 0.5x the mean rate.
    candidates = rng.uniform(t0, t1, size=int(n * 1.6) + 64)
    keep = rng.uniform(size=candidates.size) < (1.0 + 0.5 * _diurnal(candidates)) / 1.5
    seconds = np.sort(candidates[keep][:n])
    n = seconds.size
    stream = rng.choice(streams.share.size, size=n, p=streams.share)
    # Candidate v2.1.0 exists only in the canary window; its samples go to the baseline before.
    candidate = _index(streams, CANDIDATE_VERSION)
    baseline = _index(streams, BASELINE_VERSION)
    canary_start = _offset(INCIDENTS["tail_regression"]["starts"])
    stream[(stream == candidate) & (seconds < canary_start)] = baseline

    median = streams.median_ms[stream] * (1.0 + 0.10 * _diurnal(seconds))
    error_rate = streams.error_rate[stream].copy()
    cost = streams.cost[stream].copy()
    write_share = streams.write_share[stream]
    is_write = (write_share > 0) & (rng.uniform(size=n) < write_share)
    median = np.where(is_write, median * 1.6, median)

    node = (stream == _index(streams, "node-17")) & (
        seconds >= _offset(INCIDENTS["degrading_node"]["starts"])
    )
    median[node] *= 2.2
    error_rate[node] = 0.012

    dao = INCIDENTS["dao_availability_drop"]
    in_drop = (
        (stream == _index(streams, "dao-07"))
        & (seconds >= _offset(dao["starts"]))
        & (seconds < _offset(dao["ends"]))
    )
    error_rate[in_drop] = 0.04

    qdrive = stream == _index(streams, "qdrive")
    cost[qdrive] *= 1.0 + 2.0 * seconds[qdrive] / (DEMO_DAYS * 86400.0)

    user = (stream == _index(streams, "user-013")) & (
        seconds >= _offset(INCIDENTS["suspicious_user"]["starts"])
    )
    ramp = (seconds[user] - _offset(INCIDENTS["suspicious_user"]["starts"])) / 86400.0
    cost[user] *= 1.0 + 4.0 * ramp
    median[user] *= 1.0 + 0.6 * ramp

    latency = median * rng.lognormal(mean=0.0, sigma=0.45, size=n)
    tail = (stream == candidate) & (rng.uniform(size=n) < 0.03)
    latency[tail] *= 3.0

    failed = rng.uniform(size=n) < error_rate
    status = np.where(failed, rng.choice([500, 502, 503], size=n), 200).astype(np.int32)
    cacheable = streams.cache_p[stream] >= 0
    cache_hit = np.where(cacheable, rng.uniform(size=n) < streams.cache_p[stream], False)
    op_type = np.where(write_share < 0, None, np.where(is_write, "write", "read"))

    times = np.datetime64(DEMO_START.replace(tzinfo=None), "us") + (seconds * 1e6).astype(
        "timedelta64[us]"
    )
    return {
        "time": times,
        "entity_kind": streams.kind[stream],
        "entity_id": streams.entity[stream],
        "environment": np.full(n, "production", dtype=object),
        "op_type": op_type,
        "latency_ms": np.round(latency, 3),
        "ok": ~failed,
        "status": status,
        "cache_hit": cache_hit,
        "cacheable": cacheable,
        "cost": np.round(cost, 7),
    }


def _write_requests(chunk: dict[str, np.ndarray], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cache_hit = pa.array(chunk["cache_hit"], mask=~chunk["cacheable"], type=pa.bool_())
    table = pa.table(
        {
            "time": pa.array(chunk["time"], type=pa.timestamp("us")),
            "entity_kind": pa.array(chunk["entity_kind"], type=pa.string()),
            "entity_id": pa.array(chunk["entity_id"], type=pa.string()),
            "environment": pa.array(chunk["environment"], type=pa.string()),
            "op_type": pa.array(chunk["op_type"], type=pa.string()),
            "latency_ms": pa.array(chunk["latency_ms"], type=pa.float64()),
            "ok": pa.array(chunk["ok"], type=pa.bool_()),
            "status": pa.array(chunk["status"], type=pa.int32()),
            "cache_hit": cache_hit,
            "cost": pa.array(chunk["cost"], type=pa.float64()),
        }
    )
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def _point_times(step_s: int) -> np.ndarray:
    return np.arange(0, DEMO_DAYS * 86400, step_s, dtype=float)


def _write_node_utilization(rng: np.random.Generator, path: Path) -> int:
    seconds = _point_times(300)
    lines = ["time,node_id,utilization"]
    cause = INCIDENTS["degrading_node"]["cause"]
    assert isinstance(cause, dict)
    degrade = _offset(cause["starts"])
    for node in NODES:
        base = rng.uniform(0.35, 0.55)
        values = base + 0.15 * _diurnal(seconds) + rng.normal(0, 0.02, seconds.size)
        if node == INCIDENTS["degrading_node"]["entity"]:
            values = np.where(seconds >= degrade, values + 0.3, values)
        values = np.clip(values, 0.01, 0.99)
        for second, value in zip(seconds, values, strict=True):
            stamp = (DEMO_START + timedelta(seconds=float(second))).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(f"{stamp},{node},{value:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1


def _write_dao_points(rng: np.random.Generator, path: Path) -> int:
    seconds = _point_times(300)
    drop = INCIDENTS["dao_availability_drop"]
    records: list[str] = []
    for dao in DAOS:
        base_p99 = rng.uniform(120, 180)
        base_rps = rng.uniform(12, 30)
        for second in seconds:
            moment = DEMO_START + timedelta(seconds=float(second))
            in_drop = dao == drop["entity"] and drop["starts"] <= moment < drop["ends"]
            error_rate = 0.04 if in_drop else float(rng.uniform(0.0002, 0.0006))
            cycle = float(_diurnal(np.asarray([second]))[0])
            records.append(
                json.dumps(
                    {
                        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "daoId": dao,
                        "latency": {"p99": round(base_p99 * (1 + 0.1 * cycle), 2)},
                        "availability": {
                            "uptime": round(100.0 * (1 - error_rate) - rng.uniform(0, 0.01), 4)
                        },
                        "throughput": {"rps": round(base_rps * (1 + 0.5 * cycle), 3)},
                        "errorRate": round(error_rate, 6),
                    }
                )
            )
    path.write_text("\n".join(records) + "\n")
    return len(records)


def _otlp_attr(key: str, value: str) -> dict[str, object]:
    return {"key": key, "value": {"stringValue": value}}


class _TraceWriter:
    """Builds one OTLP/JSON export: spans grouped by service (one resource each)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.by_service: dict[tuple[str, str | None, str | None], list[dict[str, object]]] = {}
        self.traces = 0
        self.index: dict[str, dict[str, object]] = {}

    def span(
        self,
        trace_id: str,
        parent: str | None,
        service: str,
        name: str,
        start_s: float,
        duration_ms: float,
        *,
        kind: int = 1,
        entity: tuple[str, str] | None = None,
        error: bool = False,
    ) -> tuple[str, float]:
        """Add a span starting ``start_s`` seconds into the demo; returns (span id, end s)."""
        span_id = self.rng.bytes(8).hex()
        start_ns = int((DEMO_START.timestamp() + start_s) * 1e9)
        span: dict[str, object] = {
            "traceId": trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(start_ns),
            "endTimeUnixNano": str(start_ns + int(duration_ms * 1e6)),
            "status": {"code": 2 if error else 1},
        }
        if parent is not None:
            span["parentSpanId"] = parent
        self.index[span_id] = span
        key = (service, *(entity or (None, None)))
        self.by_service.setdefault(key, []).append(span)
        return span_id, start_s + duration_ms / 1000

    def document(self) -> dict[str, object]:
        resources = []
        for (service, kind, entity), spans in sorted(
            self.by_service.items(), key=lambda kv: tuple(str(k) for k in kv[0])
        ):
            attributes = [
                _otlp_attr("service.name", service),
                _otlp_attr("deployment.environment", "production"),
            ]
            if kind is not None and entity is not None:
                attributes += [
                    _otlp_attr("ecoperf.entity.kind", kind),
                    _otlp_attr("ecoperf.entity.id", entity),
                ]
            resources.append(
                {
                    "resource": {"attributes": attributes},
                    "scopeSpans": [{"scope": {"name": "ecoperf-demo"}, "spans": spans}],
                }
            )
        return {"resourceSpans": resources}


def _transfer_trace(w: _TraceWriter, at: float, node: str, saturated: bool, slow: bool) -> None:
    """qwallet's transfer: the API calls the wallet service, which reads a cache and writes the
    ledger on a QNET node; on a saturated node the write first waits in the node's queue."""
    rng = w.rng
    trace_id = rng.bytes(16).hex()
    w.traces += 1
    api, t = w.span(trace_id, None, "qwallet-api", "POST /transfer", at, 0.0, kind=2)
    root_start = at
    wallet, t = w.span(trace_id, api, "qwallet", "wallet-transfer", t + 0.002, 0.0)
    _cache, _ = w.span(trace_id, wallet, "qwallet", "cache.get", t + 0.001, rng.uniform(2, 5))
    queue_ms = rng.uniform(25, 45) if saturated else rng.uniform(0.2, 1.0)
    write_ms = rng.uniform(40, 60) * (2.2 if slow else 1.0)
    ledger, t_ledger = w.span(
        trace_id, wallet, "qnet-node", "ledger.write", t + 0.001, queue_ms + write_ms + 1,
        kind=3, entity=("node", node),
    )  # fmt: skip
    w.span(trace_id, ledger, "qnet-node", "queue.wait", t + 0.0015, queue_ms, entity=("node", node))
    w.span(
        trace_id, ledger, "qnet-node", "disk.write", t + 0.0015 + queue_ms / 1000, write_ms,
        entity=("node", node),
    )  # fmt: skip
    _fix_durations(
        w, trace_id, {api: (root_start, t_ledger + 0.003), wallet: (t, t_ledger + 0.001)}
    )


def _fix_durations(w: _TraceWriter, trace_id: str, bounds: dict[str, tuple[float, float]]) -> None:
    """Set parents' end times once their children are placed."""
    for span_id, (_start, end) in bounds.items():
        w.index[span_id]["endTimeUnixNano"] = str(int((DEMO_START.timestamp() + end) * 1e9))


def _simple_trace(
    w: _TraceWriter, at: float, service: str, name: str, entity: tuple[str, str], ms: float,
    error: bool,
) -> None:  # fmt: skip
    trace_id = w.rng.bytes(16).hex()
    w.traces += 1
    root, _ = w.span(trace_id, None, f"{service}-api", name, at, ms + 3, kind=2, error=error)
    w.span(trace_id, root, service, f"{name} handler", at + 0.001, ms, entity=entity, error=error)


def _write_traces(rng: np.random.Generator, path: Path) -> int:
    """OTLP/JSON traces of the incidents (a few hundred, so the demo stays fast): qwallet
    transfers around node-17's degradation (half of them on node-17), dao-07's votes around its
    availability drop, and the canary's quotes beside the baseline's."""
    w = _TraceWriter(rng)
    node = INCIDENTS["degrading_node"]
    cause = node["cause"]
    assert isinstance(cause, dict)
    saturated_from, slow_from = _offset(cause["starts"]), _offset(node["starts"])
    for at in np.arange(slow_from - 3 * 3600, slow_from + 3 * 3600, 150.0):
        target = str(node["entity"]) if rng.uniform() < 0.5 else NODES[int(rng.integers(0, 16))]
        on_target = target == node["entity"]
        _transfer_trace(
            w, float(at) + rng.uniform(0, 60), target,
            saturated=on_target and at >= saturated_from, slow=on_target and at >= slow_from,
        )  # fmt: skip
    dao = INCIDENTS["dao_availability_drop"]
    drop_from, drop_to = _offset(dao["starts"]), _offset(dao["ends"])
    for at in np.arange(drop_from - 3600, drop_to + 3600, 300.0):
        in_drop = drop_from <= at < drop_to
        _simple_trace(
            w, float(at), "qdao", "governance.vote", ("dao", str(dao["entity"])),
            rng.uniform(60, 110), error=bool(in_drop and rng.uniform() < 0.5),
        )  # fmt: skip
    canary = INCIDENTS["tail_regression"]
    for at in np.arange(_offset(canary["starts"]), DEMO_DAYS * 86400.0, 600.0):
        for version in (BASELINE_VERSION, CANDIDATE_VERSION):
            ms = 50.0 * rng.lognormal(0.0, 0.45)
            if version == CANDIDATE_VERSION and rng.uniform() < 0.03:
                ms *= 3.0
            _simple_trace(
                w, float(at) + rng.uniform(0, 300), "qmarket", "GET /quote",
                ("deployment", version), ms, error=False,
            )  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(w.document(), separators=(",", ":")))
    tmp.replace(path)
    return w.traces


@dataclass(frozen=True)
class DemoFiles:
    files: list[Path]
    request_samples: int
    point_rows: int
    traces: int = 0


def generate_demo(out_dir: Path, size: int = DEFAULT_SIZE, seed: int = SEED) -> DemoFiles:
    """Write the demo ecosystem's files into ``out_dir``; returns them in load order."""
    if size < 1000:
        raise ValueError(f"size must be at least 1000 samples, got {size}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    streams = _streams(rng)
    files: list[Path] = []
    written = 0
    per_day = size // DEMO_DAYS
    parts = max(1, -(-per_day // MAX_ROWS_PER_FILE))
    for day in range(DEMO_DAYS):
        day_size = per_day if day < DEMO_DAYS - 1 else size - per_day * (DEMO_DAYS - 1)
        for part in range(parts):
            t0 = day * 86400.0 + part * 86400.0 / parts
            t1 = day * 86400.0 + (part + 1) * 86400.0 / parts
            n = (
                day_size // parts
                if part < parts - 1
                else day_size - (day_size // parts) * (parts - 1)
            )
            chunk = _request_chunk(rng, streams, n, t0, t1)
            path = out_dir / f"requests-day{day + 1}-part{part + 1}.parquet"
            _write_requests(chunk, path)
            files.append(path)
            written += len(chunk["time"])
    points = _write_node_utilization(rng, out_dir / "node_utilization.csv")
    points += _write_dao_points(rng, out_dir / "dao_subnets.jsonl")
    files += [out_dir / "node_utilization.csv", out_dir / "dao_subnets.jsonl"]
    # Traces draw from their own generator: the other files' bytes stay as they were.
    traces = _write_traces(np.random.default_rng(seed + 1), out_dir / "traces.otlp.json")
    files.append(out_dir / "traces.otlp.json")
    return DemoFiles(files=files, request_samples=written, point_rows=points, traces=traces)
