"""Named read queries over the rollups, shared by the CLI summary, the API and the dashboards."""

from __future__ import annotations

from typing import Any

import duckdb


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def latest_time(con: duckdb.DuckDBPyConnection) -> Any:
    return con.execute("SELECT max(window_start) FROM rollups").fetchall()[0][0]


def slowest_nodes(
    con: duckdb.DuckDBPyConnection, hours: int = 6, limit: int = 5
) -> list[dict[str, Any]]:
    """Nodes by mean hourly p95 over the last ``hours`` against the fleet's median."""
    return _rows(
        con,
        f"""
        WITH recent AS (
            SELECT entity_id, avg(latency_p95) AS p95, avg(error_rate) AS error_rate,
                   avg(utilization) AS utilization
            FROM rollups
            WHERE "window" = '1h' AND entity_kind = 'node'
              AND window_start >= (SELECT max(window_start) FROM rollups) - INTERVAL {int(hours)} HOUR
            GROUP BY entity_id
        )
        SELECT entity_id AS node, round(p95, 1) AS p95_ms,
               round(p95 / median(p95) OVER (), 2) AS vs_fleet_median,
               round(error_rate * 100, 3) AS error_pct, round(utilization, 2) AS utilization
        FROM recent ORDER BY p95 DESC LIMIT {int(limit)}
        """,
    )


def dao_availability(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[dict[str, Any]]:
    """DAOs by their worst hourly availability."""
    return _rows(
        con,
        f"""
        SELECT entity_id AS dao, round(min(availability), 3) AS worst_hour_availability_pct,
               arg_min(window_start, availability) AS worst_hour,
               round(avg(availability), 3) AS mean_availability_pct
        FROM rollups WHERE "window" = '1h' AND entity_kind = 'dao'
        GROUP BY entity_id ORDER BY min(availability) LIMIT {int(limit)}
        """,
    )


def module_cost_by_day(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Daily cost per module, first and last day, and the growth between them."""
    return _rows(
        con,
        """
        WITH daily AS (
            SELECT entity_id, date_trunc('day', window_start) AS day, sum(cost) AS cost
            FROM rollups WHERE "window" = '1h' AND entity_kind = 'module'
            GROUP BY ALL
        )
        SELECT entity_id AS module, round(arg_min(cost, day), 2) AS first_day_cost,
               round(arg_max(cost, day), 2) AS last_day_cost,
               round(arg_max(cost, day) / nullif(arg_min(cost, day), 0), 2) AS growth
        FROM daily GROUP BY entity_id ORDER BY growth DESC
        """,
    )


def deployment_latency(con: duckdb.DuckDBPyConnection, hours: int = 12) -> list[dict[str, Any]]:
    """Latency quantiles per deployment over the last ``hours``, from raw samples."""
    return _rows(
        con,
        f"""
        SELECT entity_id AS deployment, count(*) AS requests,
               round(quantile_cont(latency_ms, 0.5), 1) AS p50_ms,
               round(quantile_cont(latency_ms, 0.95), 1) AS p95_ms,
               round(quantile_cont(latency_ms, 0.99), 1) AS p99_ms,
               round(avg(CASE WHEN ok THEN 0 ELSE 1 END) * 100, 3) AS error_pct
        FROM requests
        WHERE entity_kind = 'deployment'
          AND ts >= (SELECT max(ts) FROM requests) - INTERVAL {int(hours)} HOUR
        GROUP BY entity_id ORDER BY entity_id
        """,
    )
