"""Bench: score every node end to end through ecoperf vs one hand-written DuckDB query.

    python bench/evaluate.py --samples 10000000        # ~10,000 nodes, ~1,000 requests each

Setup (timed, not compared): N raw request samples over one hour for ~N/1000 nodes (1% of them
degraded: 2.5x latency, 3% errors), a utilization point per node every 5 minutes, and the 23 hours
before as pre-aggregated points (5-minute p95 and utilization per node; the degraded nodes step
up 2.5x four hours before the last hour) are generated with DuckDB into Parquet/CSV, ingested
through the service (validation, one batch per file) and rolled up (1m/5m/1h). The history gives
the change-point detection a realistic 24 h series (288 windows) per node.

Compared, each run three times, alternating:

* ecoperf: ``Ecoperf.evaluate_nodes()``, the scheduled QNET evaluation end to end: take the
  writer (open the warehouse, check its schema version), read every node's p95/p99/error
  rate/utilization for the last hour from the 5m rollups, read the node's regressions from the
  change points the analyze step stored (the scheduled analyze flow runs before evaluate; here once
  in setup, timed as setup_analyze_s), read the hysteresis state, score the fleet (bands,
  hysteresis, fleet cap, panic), store 10,000 decisions with their outbox events and new heads in
  one transaction, and close (DuckDB checkpoints);
* hand query: one DuckDB query computing exact per-node p95, p99 and error rate from the raw
  requests of the same hour (on an open read-only connection; connecting is not timed).

The two sides do not read the same table: ecoperf reads the rollups (computed beforehand by the
rollup flow, whose time is printed as setup_rollup_s and folded into ratio_including_rollup), the
hand query scans the raw requests. Both are printed with how far ecoperf's percentiles (request-
weighted means of 5-minute percentiles) are from the exact ones. Last line: ``ratio`` = ecoperf
median time / hand query median time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = datetime(2026, 12, 1)
MAX_ROWS_PER_FILE = 5_000_000


def generate(out: Path, samples: int, nodes: int, seed: float = 0.42) -> list[Path]:
    """Raw requests (Parquet, <= 5M rows a file) and utilization points (CSV) for one hour."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SELECT setseed({seed})")
    files = []
    parts = max(1, -(-samples // MAX_ROWS_PER_FILE))
    for part in range(parts):
        lo = part * samples // parts
        hi = (part + 1) * samples // parts
        path = out / f"requests-{part + 1}.parquet"
        con.execute(
            f"""
            COPY (
                WITH r AS (
                    SELECT i,
                           CAST(hash(i * 2654435761) % {nodes} AS BIGINT) AS n,
                           random() AS u1, random() AS u2, random() AS u3
                    FROM range({lo}, {hi}) AS t(i)
                )
                SELECT TIMESTAMP '{START:%Y-%m-%d %H:%M:%S}'
                           + to_microseconds(CAST(i * 3600000000 // {samples} AS BIGINT)) AS time,
                       'node' AS entity_kind,
                       'node-' || lpad(CAST(n AS VARCHAR), 5, '0') AS entity_id,
                       'production' AS environment,
                       round((40 + n % 30) * (CASE WHEN n % 97 = 0 THEN 2.5 ELSE 1 END)
                             * exp(0.45 * sqrt(-2 * ln(greatest(u1, 1e-12)))
                                   * cos(2 * pi() * u2)), 3) AS latency_ms,
                       u3 >= (CASE WHEN n % 97 = 0 THEN 0.03 ELSE 0.002 END) AS ok,
                       0.0002 AS cost
                FROM r
            ) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
            """
        )
        files.append(path)
    history = out / "node_history.parquet"
    con.execute(
        f"""
        COPY (
            SELECT TIMESTAMP '{START:%Y-%m-%d %H:%M:%S}' - INTERVAL 23 HOUR + INTERVAL 5 MINUTE * s
                       AS time,
                   'node-' || lpad(CAST(n AS VARCHAR), 5, '0') AS node_id,
                   round((40 + n % 30) * 2.1 * (1 + 0.1 * sin(2 * pi() * s / 288))
                         * (CASE WHEN n % 97 = 0 AND s >= 228 THEN 2.5 ELSE 1 END)
                         * exp(0.10 * sqrt(-2 * ln(greatest(random(), 1e-12)))
                               * cos(2 * pi() * random())), 3) AS latency_p95,
                   round(least(0.99, 0.35 + (n % 20) / 100 + 0.02 * random()), 4) AS utilization
            FROM range({nodes}) AS a(n), range(276) AS b(s)
        ) TO '{history}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    files.append(history)
    points = out / "node_utilization.csv"
    con.execute(
        f"""
        COPY (
            SELECT strftime(TIMESTAMP '{START:%Y-%m-%d %H:%M:%S}' + INTERVAL 5 MINUTE * s,
                            '%Y-%m-%dT%H:%M:%SZ') AS time,
                   'node-' || lpad(CAST(n AS VARCHAR), 5, '0') AS node_id,
                   round(least(0.99, 0.35 + (n % 20) / 100 + (CASE WHEN n % 97 = 0 THEN 0.4
                         ELSE 0 END) + 0.02 * random()), 4) AS utilization
            FROM range({nodes}) AS a(n), range(12) AS b(s)
        ) TO '{points}' (FORMAT csv, HEADER)
        """
    )
    files.append(points)
    con.close()
    return files


def hand_query(db: Path, as_of: datetime) -> tuple[float, object]:
    """Exact per-node p95, p99, error rate of the last hour from raw requests; (seconds, frame)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        started = time.perf_counter()
        frame = con.execute(
            """
            SELECT entity_id,
                   quantile_cont(latency_ms, [0.95, 0.99]) AS q,
                   avg(CASE WHEN ok THEN 0.0 ELSE 1.0 END) AS error_rate
            FROM requests
            WHERE entity_kind = 'node' AND environment = 'production'
              AND ts > ? AND ts <= ?
            GROUP BY entity_id
            """,
            [as_of - timedelta(hours=1), as_of],
        ).df()
        return time.perf_counter() - started, frame
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--nodes", type=int, default=None, help="default: samples / 1000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep it")
    args = parser.parse_args()
    nodes = args.nodes or max(10, args.samples // 1000)
    home = args.keep or Path(tempfile.mkdtemp(prefix="ecoperf-bench-evaluate-"))
    os.environ["ECOPERF_HOME"] = str(home)

    import numpy as np

    from ecoperf_core.service import Ecoperf
    from ecoperf_core.settings import Settings

    service = Ecoperf(Settings())
    try:
        print(f"samples: {args.samples}")
        print(f"nodes: {nodes}")
        started = time.perf_counter()
        files = generate(home / "input", args.samples, nodes)
        print(f"setup_generate_s: {time.perf_counter() - started:.2f}")
        started = time.perf_counter()
        report = service.ingest_landed(service.land(files))
        assert not report.rejected, report.to_dict()
        print(f"setup_ingest_s: {time.perf_counter() - started:.2f}")
        started = time.perf_counter()
        service.rollup()
        rollup_s = time.perf_counter() - started
        print(f"setup_rollup_s: {rollup_s:.2f}")
        started = time.perf_counter()
        analysis = service.analyze()  # the detections the engine reads
        analyze_s = time.perf_counter() - started
        print(
            f"setup_analyze_s: {analyze_s:.2f} (change points and anomalies stored: {analysis.stored})"
        )
        as_of = service.latest_data_time()
        print(f"as_of: {as_of.isoformat()} (the QNET window: the last hour = all samples)")

        ecoperf_runs, hand_runs, phases = [], [], []
        result = exact = None
        for _ in range(args.runs):
            seconds, exact = hand_query(service.db_path, as_of)
            hand_runs.append(seconds)
            started = time.perf_counter()
            result = service.evaluate_nodes()
            ecoperf_runs.append(time.perf_counter() - started)
            phases.append(result.extra["timings"])
        assert result is not None and result.fleet is not None and exact is not None

        frame = result.fleet.frame.set_index("node_id")
        sources = result.sources
        exact = exact.set_index("entity_id")
        p95 = np.array([q[0] for q in exact["q"]])
        p99 = np.array([q[1] for q in exact["q"]])
        ours = frame.loc[exact.index]
        rel95 = np.abs(ours["p95_ms"].to_numpy() / p95 - 1)
        rel99 = np.abs(ours["p99_ms"].to_numpy() / p99 - 1)
        err = np.abs(ours["error_rate"].to_numpy() - exact["error_rate"].to_numpy())
        by_source = sources["percentiles"].value_counts().to_dict() if sources is not None else {}
        weights = frame["weight"].value_counts().sort_index().to_dict()
        summary = result.fleet.summary()

        print(f"decisions_stored_per_run: {result.stored.decisions}")
        print(f"outbox_events_last_run: {result.stored.events}")
        print(f"weights: {{{', '.join(f'{k:g}: {v}' for k, v in weights.items())}}}")
        print(
            f"fleet: newly down-weighted {summary['newlyDownWeighted']}, held by cap "
            f"{summary['heldByCap']}, panic {summary['panic']}"
        )
        print(f"ecoperf_percentile_source: {by_source} (nodes)")
        print(f"nodes_with_regressions: {int((frame['regression_count'] > 0).sum())}")
        print(f"ecoperf_runs_s: {', '.join(f'{s:.3f}' for s in ecoperf_runs)}")
        for key, label in (
            ("readInputsS", "read inputs incl. change points"),
            ("decideS", "hysteresis state + engine"),
            ("storeS", "store decisions/outbox/heads"),
            ("closeS", "writer close (checkpoint)"),
        ):
            median = statistics.median(p[key] for p in phases)
            print(f"ecoperf_phase_{key[:-1]}_s: {median:.3f} ({label}, median)")
        print(f"hand_query_runs_s: {', '.join(f'{s:.3f}' for s in hand_runs)}")
        print(f"p95_vs_exact_median_rel_diff: {np.median(rel95):.4f}")
        print(f"p99_vs_exact_median_rel_diff: {np.median(rel99):.4f}")
        print(f"error_rate_vs_exact_max_abs_diff: {err.max():.6f}")
        print(
            "ecoperf_does: read 5m rollups (last hour) + node utilization + stored change points "
            "(regressions) + QNET engine (bands, hysteresis, fleet cap, panic) + store decisions, outbox events "
            "and heads in one writer transaction (connections included)"
        )
        print(
            "hand_query_does: exact quantile_cont p95/p99 + error rate per node from raw requests "
            "of the same hour (open connection, query only)"
        )
        print(
            "note: the sides read different tables: ecoperf reads rollups precomputed by the "
            "rollup flow (setup_rollup_s), the hand query scans raw requests"
        )
        ecoperf_s = statistics.median(ecoperf_runs)
        hand_s = statistics.median(hand_runs)
        print(f"ecoperf_s: {ecoperf_s:.3f}")
        print(f"hand_query_s: {hand_s:.3f}")
        print(f"ratio_including_rollup: {(ecoperf_s + rollup_s) / hand_s:.2f}")
        print(f"ratio: {ecoperf_s / hand_s:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
