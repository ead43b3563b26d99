"""Windowed rollups per entity, recomputed only where new batches landed.

A batch is pending until a rollup absorbs it (``ingest_batches.rolled_up_at``). For each window
length, the (entity, window) pairs that pending batches touch are deleted and recomputed from all
raw rows of those windows, in one transaction with marking the batches absorbed: a late batch that
lands in an old window recomputes that window whole, and a crash recomputes it again next time.

Per window: raw per-request samples give requests, errors, latency quantiles, error rate,
throughput, cache hit rate, cost and availability (success ratio); pre-aggregated points fill what
raw samples do not have (utilization always, availability when reported). Where both exist, raw
samples win for what they measure and point costs add to request costs. Reported percentiles of
several points in one window combine by their maximum: a conservative choice, since percentiles
cannot be averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from ecoperf_core.timeutil import window_seconds
from ecoperf_core.warehouse.sql import literal


@dataclass
class RollupResult:
    batches: list[str] = field(default_factory=list)
    windows: dict[str, int] = field(default_factory=dict)  # window -> rows (re)computed

    def to_dict(self) -> dict[str, object]:
        return {"batches": len(self.batches), "windows": dict(self.windows)}


def _pending(con: duckdb.DuckDBPyConnection, full: bool) -> list[tuple[str, object, object]]:
    condition = "status = 'loaded'" + ("" if full else " AND rolled_up_at IS NULL")
    return con.execute(
        f"SELECT batch_id, min_ts, max_ts FROM ingest_batches WHERE {condition} ORDER BY loaded_at"
    ).fetchall()


_POINT_AGGREGATES = """
    max(value) FILTER (WHERE metric = 'latency_p50') AS p_p50,
    max(value) FILTER (WHERE metric = 'latency_p95') AS p_p95,
    max(value) FILTER (WHERE metric = 'latency_p99') AS p_p99,
    avg(value) FILTER (WHERE metric = 'error_rate') AS p_error_rate,
    avg(value) FILTER (WHERE metric = 'cache_hit_rate') AS p_cache_hit_rate,
    avg(value) FILTER (WHERE metric = 'utilization') AS p_utilization,
    avg(value) FILTER (WHERE metric = 'availability') AS p_availability,
    avg(value) FILTER (WHERE metric = 'throughput_rps') AS p_throughput,
    sum(value) FILTER (WHERE metric = 'requests') AS p_requests,
    sum(value) FILTER (WHERE metric = 'cost') AS p_cost
"""


def _recompute_window(
    con: duckdb.DuckDBPyConnection, window: str, now: datetime, lo: datetime, hi: datetime
) -> int:
    seconds = window_seconds(window)
    bucket = f"time_bucket(INTERVAL '{seconds} seconds', ts)"
    # Constant time bounds, not scalar subqueries: DuckDB prunes row groups by a constant, while
    # a subquery's bound made each rollup read the ``ts`` column of the whole table.
    within = f"ts BETWEEN {literal(lo)} AND {literal(hi)}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE touched AS
        SELECT DISTINCT entity_kind, entity_id, environment, {bucket} AS window_start
        FROM (
            SELECT entity_kind, entity_id, environment, ts FROM requests
            WHERE batch_id IN (SELECT batch_id FROM pending_batches) AND {within}
            UNION ALL
            SELECT entity_kind, entity_id, environment, ts FROM samples
            WHERE batch_id IN (SELECT batch_id FROM pending_batches) AND {within}
        )
        """
    )
    first, last = con.execute(
        "SELECT min(window_start), max(window_start) FROM touched"
    ).fetchall()[0]
    if first is None:
        return 0
    con.execute(
        """
        DELETE FROM rollups AS r USING touched AS t
        WHERE r."window" = ? AND r.entity_kind = t.entity_kind AND r.entity_id = t.entity_id
          AND r.environment = t.environment AND r.window_start = t.window_start
        """,
        [window],
    )
    span = f"ts >= {literal(first)} AND ts < {literal(last)} + INTERVAL '{seconds} seconds'"
    inserted = con.execute(
        f"""
        INSERT INTO rollups
        WITH req AS (
            SELECT entity_kind, entity_id, environment, {bucket} AS window_start,
                   count(*) AS n,
                   count(*) FILTER (WHERE NOT ok) AS errors,
                   quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q,
                   avg(CASE WHEN cache_hit THEN 1.0 WHEN NOT cache_hit THEN 0.0 END) AS cache_hit_rate,
                   sum(cost) AS cost
            FROM requests
            WHERE {span}
              AND (entity_kind, entity_id, environment, {bucket}) IN (SELECT * FROM touched)
            GROUP BY ALL
        ),
        pts AS (
            SELECT entity_kind, entity_id, environment, {bucket} AS window_start,
                   {_POINT_AGGREGATES}
            FROM samples
            WHERE {span}
              AND (entity_kind, entity_id, environment, {bucket}) IN (SELECT * FROM touched)
            GROUP BY ALL
        )
        SELECT
            ? AS "window",
            window_start, entity_kind, entity_id, environment,
            coalesce(req.n, CAST(round(pts.p_requests) AS BIGINT),
                     CAST(round(pts.p_throughput * {seconds}) AS BIGINT), 0) AS requests,
            req.errors,
            coalesce(req.q[1], pts.p_p50) AS latency_p50,
            coalesce(req.q[2], pts.p_p95) AS latency_p95,
            coalesce(req.q[3], pts.p_p99) AS latency_p99,
            coalesce(CAST(req.errors AS DOUBLE) / req.n, pts.p_error_rate) AS error_rate,
            coalesce(CAST(req.n AS DOUBLE) / {seconds}, pts.p_throughput,
                     pts.p_requests / {seconds}) AS throughput_rps,
            coalesce(req.cache_hit_rate, pts.p_cache_hit_rate) AS cache_hit_rate,
            pts.p_utilization AS utilization,
            CASE WHEN req.cost IS NULL AND pts.p_cost IS NULL THEN NULL
                 ELSE coalesce(req.cost, 0) + coalesce(pts.p_cost, 0) END AS cost,
            coalesce(pts.p_availability,
                     100.0 * (1 - CAST(req.errors AS DOUBLE) / req.n)) AS availability,
            CAST(? AS TIMESTAMP) AS computed_at
        FROM req FULL OUTER JOIN pts USING (entity_kind, entity_id, environment, window_start)
        """,
        [window, now],
    ).fetchall()[0][0]
    return int(inserted)


def rollup(
    con: duckdb.DuckDBPyConnection, windows: list[str], *, full: bool = False
) -> RollupResult:
    """Absorb pending batches into every window length; ``full`` recomputes everything."""
    for window in windows:
        window_seconds(window)  # fail on a bad window before touching anything
    pending = _pending(con, full)
    result = RollupResult(batches=[batch for batch, _lo, _hi in pending])
    if not pending:
        return result
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE pending_batches (batch_id VARCHAR, min_ts TIMESTAMP, max_ts TIMESTAMP)"
        )
        con.executemany(
            "INSERT INTO pending_batches VALUES (?, ?, ?)", [list(row) for row in pending]
        )
        if full:
            con.execute('DELETE FROM rollups WHERE "window" IN (SELECT unnest(?))', [list(windows)])
        lows = [row[1] for row in pending if row[1] is not None]
        highs = [row[2] for row in pending if row[2] is not None]
        for window in windows:  # a batch without rows has no bounds and touches no window
            result.windows[window] = (
                _recompute_window(con, window, now, min(lows), max(highs)) if lows else 0
            )
        con.execute(
            "UPDATE ingest_batches SET rolled_up_at = ? "
            "WHERE batch_id IN (SELECT batch_id FROM pending_batches)",
            [now],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS touched")
        con.execute("DROP TABLE IF EXISTS pending_batches")
    return result
