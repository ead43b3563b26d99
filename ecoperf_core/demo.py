"""A deterministic demo ecosystem with incidents the engines must find.

``generate_demo(out_dir, size=...)`` writes, for a fixed seed and a fixed three-day period:

- ``requests-dayN-partK.parquet``: raw per-request samples for 50 nodes, 10 DAOs, 5 modules, 5
  operations (read and write), two deployments (baseline v2.0.9, candidate v2.1.0 canaried over the
  last 12 hours) and 20 users, with daily traffic and latency cycles;
- ``node_utilization.csv``: capacity utilization points per node every 5 minutes;
- ``dao_subnets.jsonl``: per-DAO points in the spec's nested payload shape every 5 minutes.

Injected incidents (``INCIDENTS`` says when and where):

- node-17's latency more than doubles (x2.2) (and its errors rise) from day 3, 06:00;
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
    "degrading_node": {"entity": "node-17", "starts": DEMO_START + timedelta(days=2, hours=6)},
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
    degrade = _offset(INCIDENTS["degrading_node"]["starts"])
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


@dataclass(frozen=True)
class DemoFiles:
    files: list[Path]
    request_samples: int
    point_rows: int


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
    return DemoFiles(files=files, request_samples=written, point_rows=points)
