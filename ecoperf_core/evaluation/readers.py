"""Engine inputs read from the warehouse, as of the latest data time.

Every reader takes an open (read-only) DuckDB connection and an *as-of* time and issues a few
columnar queries for all subjects at once (never a query per node). What each input means, and
which table it comes from, is stated on each function and in docs/evaluation.md; the windows are
in :class:`ecoperf_core.evaluation.config.EvaluationWindows`.

Percentiles over several 5-minute rollup windows are combined as the request-weighted mean of the
windows' percentiles. Percentiles cannot be merged exactly, and a window's p99 from fewer than
~100 requests is close to its maximum (biased low); the raw-request readers (go-live latency, CI/CD
gate, Qflow estimate) compute exact percentiles instead, where the subjects are few.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ecoperf_core.engines.cicd import GateInputs, GateMetrics
from ecoperf_core.engines.dao import DaoInputs
from ecoperf_core.engines.golive import GoLiveInputs, LatencyWindow
from ecoperf_core.engines.qerberos import RiskInputs
from ecoperf_core.engines.qflow import OperationInputs
from ecoperf_core.errors import NotFoundError
from ecoperf_core.evaluation.config import DEFAULT_WINDOWS, EvaluationWindows
from ecoperf_core.evaluation.series import severity, trends
from ecoperf_core.policy import Policy
from ecoperf_core.stats.slo import burn_rate

FIVE_MIN = timedelta(minutes=5)
DAY = timedelta(days=1)


# ------------------------------------------------------------------------------------ helpers


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _exec(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Execute with only the named parameters the SQL uses (DuckDB refuses unused ones)."""
    used = set(_PARAM.findall(sql))
    return con.execute(sql, {k: v for k, v in (params or {}).items() if k in used})


def _df(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    return _exec(con, sql, params).df()


def _none(value: Any) -> Any:
    """NaN/NaT/pd.NA → None, numpy scalars → Python."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def ceil_to(moment: datetime, step: timedelta) -> datetime:
    """The first multiple of ``step`` (from midnight) at or after ``moment``."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = math.ceil((moment - midnight) / step)
    return midnight + steps * step


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def latest_data_time(con: duckdb.DuckDBPyConnection) -> datetime:
    """The latest sample time of any loaded batch: the default as-of time of an evaluation."""
    value = con.execute(
        "SELECT max(max_ts) FROM ingest_batches WHERE status = 'loaded'"
    ).fetchall()[0][0]
    if value is None:
        raise NotFoundError(
            "the warehouse holds no data yet: run `ecosystem-perf demo` or `ecosystem-perf ingest`"
        )
    return value


def resolve_as_of(con: duckdb.DuckDBPyConnection, as_of: datetime | str | None) -> datetime:
    if as_of is None:
        return latest_data_time(con)
    if isinstance(as_of, str):
        moment = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    else:
        moment = as_of
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def entity_ids(
    con: duckdb.DuckDBPyConnection, kind: str, environment: str | None = None
) -> list[str]:
    """Every id of one entity kind the rollups know (optionally in one environment)."""
    env = "" if environment is None else "AND environment = $env"
    params: dict[str, Any] = {"kind": kind}
    if environment is not None:
        params["env"] = environment
    rows = _exec(
        con,
        f"""SELECT DISTINCT entity_id FROM rollups
            WHERE "window" = '1h' AND entity_kind = $kind {env} ORDER BY 1""",
        params,
    ).fetchall()
    return [r[0] for r in rows]


def require_known(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    ids: Sequence[str],
    environment: str | None = None,
) -> None:
    """Raise ``NotFoundError`` naming every id the warehouse does not know."""
    known = set(entity_ids(con, kind, environment))
    missing = [i for i in ids if i not in known]
    if missing:
        where = f" in environment {environment!r}" if environment else ""
        sample = ", ".join(sorted(known)[:8]) + (" ..." if len(known) > 8 else "")
        raise NotFoundError(
            f"unknown {kind} id{'s' if len(missing) > 1 else ''}{where}: "
            f"{', '.join(repr(m) for m in missing)}"
            + (f" (known: {sample})" if known else f" (the warehouse has no {kind} data)")
        )


def entity_kinds_of(con: duckdb.DuckDBPyConnection, entity_id: str) -> list[str]:
    rows = _exec(
        con,
        """SELECT DISTINCT entity_kind FROM rollups WHERE "window" = '1h' AND entity_id = $id
           ORDER BY 1""",
        {"id": entity_id},
    ).fetchall()
    return [r[0] for r in rows]


def _ids_filter(ids: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    if ids is None:
        return "", {}
    return "AND list_contains($ids, entity_id)", {"ids": list(ids)}


# -------------------------------------------------------------------- current metrics (QNET)


_CURRENT_AGGREGATES = """
        SELECT entity_id,
               sum(requests) AS requests,
               count(*) FILTER (WHERE requests > 0) AS busy_windows,
               min(window_start) AS window_from,
               CAST($end AS TIMESTAMP) AS window_to,
               coalesce(
                   sum(latency_p95 * requests) FILTER (WHERE latency_p95 IS NOT NULL)
                     / nullif(sum(requests) FILTER (WHERE latency_p95 IS NOT NULL), 0),
                   avg(latency_p95)) AS p95_ms,
               coalesce(
                   sum(latency_p99 * requests) FILTER (WHERE latency_p99 IS NOT NULL)
                     / nullif(sum(requests) FILTER (WHERE latency_p99 IS NOT NULL), 0),
                   avg(latency_p99)) AS p99_ms,
               coalesce(
                   CAST(sum(errors) FILTER (WHERE errors IS NOT NULL) AS DOUBLE)
                     / nullif(sum(requests) FILTER (WHERE errors IS NOT NULL), 0),
                   avg(error_rate)) AS error_rate,
               avg(utilization) FILTER (WHERE window_start >= $base) AS utilization
        FROM sel
        GROUP BY entity_id
        ORDER BY entity_id
"""


def current_metrics(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    as_of: datetime,
    environment: str = "production",
    ids: Sequence[str] | None = None,
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> pd.DataFrame:
    """Per entity: p95, p99, error rate, utilization over the recent 5m rollups.

    The window is the last ``windows.current`` (1 h) of 5m rollups ending at the 5-minute
    boundary at or after ``as_of``, extended back window by window (up to ``current_max``, 6 h)
    while the newer windows hold fewer than ``min_requests`` requests. Percentiles are the
    request-weighted mean of the windows' percentiles, except for sparse entities (fewer than
    ``rollup_min_window_requests`` requests per window on average), whose p95/p99/error rate are
    computed exactly from their raw requests over the same window: a 5-minute p99 of a handful
    of requests is just their maximum. Utilization is the mean of the last hour only (points do
    not get noisier with less traffic). Columns: ``entity_id, requests, window_from, window_to,
    p95_ms, p99_ms, error_rate, utilization, percentiles`` (``rollups`` or ``raw``).
    """
    end = ceil_to(as_of, FIVE_MIN)
    where_ids, params = _ids_filter(ids)
    params |= {
        "kind": kind,
        "env": environment,
        "end": end,
        "base": end - windows.current,
        "oldest": end - windows.current_max,
        "min_req": windows.min_requests,
    }
    # The last hour first; only entities with too few requests in it are read further back
    # (the window function over 6 h of every entity's windows would cost 6x the scan).
    base = _df(
        con,
        f"""
        WITH sel AS (
            SELECT * FROM rollups
            WHERE "window" = '5m' AND entity_kind = $kind AND environment = $env
              AND window_start >= $base AND window_start < $end {where_ids}
        )
        {_CURRENT_AGGREGATES}
        """,
        params,
    )
    quiet = set(base.loc[base["requests"] < windows.min_requests, "entity_id"])
    earlier = {
        r[0]
        for r in _exec(
            con,
            f"""SELECT DISTINCT entity_id FROM rollups
                WHERE "window" = '5m' AND entity_kind = $kind AND environment = $env
                  AND window_start >= $oldest AND window_start < $base {where_ids}""",
            params,
        ).fetchall()
    }
    wanted = sorted(quiet | (earlier - set(base["entity_id"])))  # + silent for the last hour
    if wanted:
        extended = _df(
            con,
            f"""
            WITH w AS (
                SELECT *,
                       coalesce(sum(requests) OVER (
                           PARTITION BY entity_id ORDER BY window_start DESC
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS newer
                FROM rollups
                WHERE "window" = '5m' AND entity_kind = $kind AND environment = $env
                  AND window_start >= $oldest AND window_start < $end
                  AND list_contains($wanted, entity_id)
            ),
            sel AS (SELECT * FROM w WHERE window_start >= $base OR newer < $min_req)
            {_CURRENT_AGGREGATES}
            """,
            params | {"wanted": wanted},
        )
        base = pd.concat(
            [base[~base["entity_id"].isin(set(extended["entity_id"]))], extended],
            ignore_index=True,
        ).sort_values("entity_id", ignore_index=True)
    frame = base
    frame["percentiles"] = "rollups"
    with np.errstate(all="ignore"):
        per_window = frame["requests"] / frame["busy_windows"]
    sparse = frame[(frame["requests"] > 0) & (per_window < windows.rollup_min_window_requests)]
    if not sparse.empty:
        exact = _raw_percentiles(con, kind, environment, as_of, sparse)
        if not exact.empty:
            frame = frame.set_index("entity_id")
            exact = exact.set_index("entity_id")
            idx = exact.index
            frame.loc[idx, "p95_ms"] = exact["p95_ms"]
            frame.loc[idx, "p99_ms"] = exact["p99_ms"]
            frame.loc[idx, "error_rate"] = exact["error_rate"]
            frame.loc[idx, "percentiles"] = "raw"
            frame = frame.reset_index()
    return frame.drop(columns=["busy_windows"])


def _raw_percentiles(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    environment: str,
    as_of: datetime,
    windows_of: pd.DataFrame,
) -> pd.DataFrame:
    """Exact p95, p99 and error rate from raw requests, each entity over its own window."""
    spans = pd.DataFrame(
        {
            "entity_id": windows_of["entity_id"].astype(str).to_numpy(),
            "window_from": pd.to_datetime(windows_of["window_from"]).to_numpy(),
        }
    )
    con.register("raw_spans", spans)
    try:
        return _df(
            con,
            """
            SELECT r.entity_id,
                   quantile_cont(r.latency_ms, [0.95, 0.99])[1] AS p95_ms,
                   quantile_cont(r.latency_ms, [0.95, 0.99])[2] AS p99_ms,
                   avg(CASE WHEN r.ok THEN 0.0 ELSE 1.0 END) AS error_rate
            FROM requests AS r JOIN raw_spans AS s ON r.entity_id = s.entity_id
            WHERE r.entity_kind = $kind AND r.environment = $env
              AND r.ts >= $oldest AND r.ts <= $as_of AND r.ts >= s.window_from
            GROUP BY r.entity_id
            """,
            {
                "kind": kind,
                "env": environment,
                "as_of": as_of,
                "oldest": spans["window_from"].min().to_pydatetime(),
            },
        )
    finally:
        con.unregister("raw_spans")


_MATRIX_COLUMNS = frozenset(
    {
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "error_rate",
        "throughput_rps",
        "cache_hit_rate",
        "utilization",
        "cost",
        "availability",
        "requests",
    }
)


def latency_matrix(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    as_of: datetime,
    environment: str,
    lookback: timedelta,
    window: str = "5m",
    ids: Sequence[str] | None = None,
    column: str = "latency_p95",
) -> tuple[list[str], np.ndarray, list[datetime]]:
    """A (entities x windows) matrix of a rollup column (p95 by default), NaN where a window has
    no value.

    A fleet's day of 5m windows is ~3M cells: they cross into numpy as Arrow columns (entity ids
    dictionary-encoded, so no Python string per cell) and land with one scatter."""
    import pyarrow.compute as pc

    from ecoperf_core.timeutil import window_seconds

    if column not in _MATRIX_COLUMNS:
        raise ValueError(f"not a numeric rollup column: {column!r}")
    step = timedelta(seconds=window_seconds(window))
    end = ceil_to(as_of, step)
    start = end - lookback
    where_ids, params = _ids_filter(ids)
    params |= {"kind": kind, "env": environment, "start": start, "end": end}
    n_slots = int(lookback / step)
    timestamps = [start + i * step for i in range(n_slots)]
    sql = f"""
        SELECT entity_id,
               CAST(floor((epoch(window_start) - epoch(CAST($start AS TIMESTAMP)))
                          / {int(step.total_seconds())}) AS INTEGER) AS slot,
               {column} AS value
        FROM rollups
        WHERE "window" = '{window}' AND entity_kind = $kind AND environment = $env
          AND window_start >= $start AND window_start < $end
          AND {column} IS NOT NULL {where_ids}
        """
    used = set(_PARAM.findall(sql))
    # The relation API hands Arrow over without the copy a DB-API result makes.
    table = con.sql(sql, params={k: v for k, v in params.items() if k in used}).to_arrow_table()
    if table.num_rows == 0:
        return [], np.empty((0, n_slots)), timestamps
    table = table.combine_chunks()
    encoded = pc.dictionary_encode(table.column("entity_id")).chunk(0)
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(names)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    row = rank[encoded.indices.to_numpy()]
    slot = table.column("slot").to_numpy()
    matrix = np.full((len(names), n_slots), np.nan)
    ok = (slot >= 0) & (slot < n_slots)
    matrix[row[ok], slot[ok]] = table.column("value").to_numpy()[ok]
    return [str(n) for n in names[order]], matrix, timestamps


def regressions(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    as_of: datetime,
    environment: str = "production",
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> pd.DataFrame:
    """Latency regressions per entity, from the change points the analyze flow stored.

    A regression is a stored ``changepoint`` on peer-relative 5m ``latency_p95`` that rose by at
    least ``regression_min_relative_change`` with p ≤ ``regression_p_threshold``, detected in the
    ``regression_lookback`` (24 h) before ``as_of``. Columns as before the detections were stored:
    ``entity_id, regression_count, regression_severity`` (from the largest step: ≥ +50%
    critical, ≥ +25% high, else medium), ``max_relative_change, last_change_at``.
    """
    frame = _df(
        con,
        """
        SELECT entity_id, count(*) AS regression_count,
               max(relative_change) AS max_relative_change,
               max(detected_at) AS last_change_at
        FROM detections
        WHERE detector = 'changepoint' AND metric = 'latency_p95' AND "window" = '5m'
          AND entity_kind = $kind AND environment = $env
          AND detected_at > $since AND detected_at <= $as_of
          AND relative_change >= $min_rel AND p_value <= $p
        GROUP BY entity_id ORDER BY entity_id
        """,
        {
            "kind": kind,
            "env": environment,
            "since": as_of - windows.regression_lookback,
            "as_of": as_of,
            "min_rel": windows.regression_min_relative_change,
            "p": windows.regression_p_threshold,
        },
    )
    frame["regression_severity"] = [severity(float(v)) for v in frame["max_relative_change"]]
    frame["regression_count"] = frame["regression_count"].astype("int64")
    return frame[
        [
            "entity_id",
            "regression_count",
            "regression_severity",
            "max_relative_change",
            "last_change_at",
        ]
    ]


def anomaly_counts(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    as_of: datetime,
    environment: str = "production",
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> dict[str, int]:
    """Stored anomalies per entity (any metric) in the ``anomaly_lookback`` before ``as_of``.

    An anomaly on a series within ``anomaly_changepoint_grace`` after a stored change point of the
    same series is that level shift seen point by point (the streaming detector takes a while to
    accept a new level), already counted as a regression: one incident, one signal.
    """
    rows = _exec(
        con,
        """SELECT a.entity_id, count(*) FROM detections AS a
           WHERE a.detector = 'anomaly' AND a.entity_kind = $kind AND a.environment = $env
             AND a.detected_at > $since AND a.detected_at <= $as_of
             AND NOT EXISTS (
                 SELECT 1 FROM detections AS c
                 WHERE c.detector = 'changepoint' AND c.entity_kind = a.entity_kind
                   AND c.entity_id = a.entity_id AND c.environment = a.environment
                   AND c.metric = a.metric AND c."window" = a."window"
                   AND c.detected_at <= a.detected_at
                   AND c.detected_at > a.detected_at - $grace)
           GROUP BY a.entity_id""",
        {
            "kind": kind,
            "env": environment,
            "since": as_of - windows.anomaly_lookback,
            "as_of": as_of,
            "grace": windows.anomaly_changepoint_grace,
        },
    ).fetchall()
    return {str(e): int(n) for e, n in rows}


# ----------------------------------------------------------------------------------- QNET


def node_inputs(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    environment: str = "production",
    windows: EvaluationWindows = DEFAULT_WINDOWS,
    *,
    detect: bool = True,
) -> pd.DataFrame:
    """The QNET input frame for every node with recent data.

    Columns: the engine's ``node_id, p95_ms, p99_ms, error_rate, utilization, regression_count,
    regression_severity`` plus evidence ``requests, window_from, window_to, utilization_known,
    max_relative_change, last_change_at``. A node without utilization points gets utilization 0
    (no capacity signal, not penalised) and ``utilization_known = False``.
    """
    frame = current_metrics(con, "node", as_of, environment, None, windows)
    frame = frame[frame["p95_ms"].notna() & frame["p99_ms"].notna()].copy()
    frame = frame.rename(columns={"entity_id": "node_id"})
    frame["utilization_known"] = frame["utilization"].notna()
    frame["utilization"] = frame["utilization"].fillna(0.0).clip(0.0, 1.0)
    frame["error_rate"] = frame["error_rate"].fillna(0.0).clip(0.0, 1.0)
    frame["p95_ms"] = np.minimum(frame["p95_ms"], frame["p99_ms"])
    frame["requests"] = frame["requests"].astype("int64")
    if detect:
        found = regressions(con, "node", as_of, environment, windows).rename(
            columns={"entity_id": "node_id"}
        )
    else:
        found = pd.DataFrame(columns=["node_id", "regression_count", "regression_severity"])
    frame = frame.merge(found, on="node_id", how="left")
    frame["regression_count"] = frame["regression_count"].fillna(0).astype("int64")
    # an empty detections frame merges as float64 NaN: cast before filling with text
    frame["regression_severity"] = (
        frame["regression_severity"].astype(object).fillna("medium").astype(str)
    )
    for column in ("max_relative_change", "last_change_at"):
        if column not in frame:
            frame[column] = None
    return frame.reset_index(drop=True)


# ------------------------------------------------------------------------------- Qerberos


def daily_costs(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    as_of: datetime,
    environment: str = "production",
    ids: Sequence[str] | None = None,
    days: int = 30,
) -> dict[str, list[float]]:
    """Cost per whole 24 h period ending at the 5-minute boundary at or after ``as_of``, oldest
    first, from the 5m rollups. A period counts only if the entity had data within an hour of its
    start (a partial first day would read as a cost rise)."""
    end = ceil_to(as_of, FIVE_MIN)
    where_ids, params = _ids_filter(ids)
    params |= {"kind": kind, "env": environment, "end": end, "start": end - days * DAY}
    frame = _df(
        con,
        f"""
        WITH w AS (
            SELECT entity_id, window_start, coalesce(cost, 0) AS cost,
                   -- period i holds windows starting in [end - (i+1) days, end - i days)
                   CAST(floor((epoch(CAST($end AS TIMESTAMP)) - epoch(window_start) - 1) / 86400)
                        AS BIGINT) AS age
            FROM rollups
            WHERE "window" = '5m' AND entity_kind = $kind AND environment = $env
              AND window_start >= $start AND window_start < $end {where_ids}
        ),
        first AS (SELECT entity_id, min(window_start) AS first_start FROM w GROUP BY 1)
        -- summed exactly (DECIMAL): a double sum depends on the scan order, which differs
        -- between the warehouse and a shard's Parquet, and shows in the sixth decimal
        SELECT entity_id, age, CAST(sum(CAST(cost AS DECIMAL(38, 12))) AS DOUBLE) AS cost,
               any_value(first_start) AS first_start
        FROM w JOIN first USING (entity_id)
        GROUP BY entity_id, age
        """,
        params,
    )
    out: dict[str, list[float]] = {}
    for entity, group in frame.groupby("entity_id", sort=True):
        first = group["first_start"].iloc[0].to_pydatetime()
        complete = int((end - first + timedelta(hours=1)) // DAY)
        n = min(days, complete)
        if n <= 0:
            out[str(entity)] = []
            continue
        by_age = dict(zip(group["age"].astype(int), group["cost"].astype(float), strict=True))
        out[str(entity)] = [round(by_age.get(age, 0.0), 6) for age in range(n - 1, -1, -1)]
    return out


@dataclass
class Sourced:
    """Engine inputs plus where they came from (stored as the decision's ``evidence.source``)."""

    inputs: Any
    source: dict[str, Any] = field(default_factory=dict)


def risk_inputs(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    as_of: datetime,
    environment: str = "production",
    ids: Sequence[str] | None = None,
    windows: EvaluationWindows = DEFAULT_WINDOWS,
    trend_medians: np.ndarray | None = None,
) -> list[Sourced]:
    """Qerberos inputs for entities of one kind: current p99 and error rate (as QNET), latency
    trend (peer-relative hourly p95 over 24 h), daily cost history, utilization; regressions
    and anomaly counts from the detections the analyze flow stored (:func:`regressions`,
    :func:`anomaly_counts`)."""
    current = current_metrics(con, kind, as_of, environment, None, windows)
    current = current[current["p99_ms"].notna()].set_index("entity_id")
    hourly_ids, hourly, _ = latency_matrix(
        con, kind, as_of, environment, windows.trend_lookback, window="1h"
    )
    labels, change = trends(
        hourly, min_relative_change=windows.trend_min_relative_change, medians=trend_medians
    )
    trend = {
        i: (str(lab), _none(ch)) for i, lab, ch in zip(hourly_ids, labels, change, strict=True)
    }
    found = regressions(con, kind, as_of, environment, windows).set_index("entity_id")
    anomalies = anomaly_counts(con, kind, as_of, environment, windows)
    wanted = list(current.index) if ids is None else [i for i in ids if i in current.index]
    costs = daily_costs(con, kind, as_of, environment, wanted, windows.cost_days)
    out = []
    for entity in wanted:
        row = current.loc[entity]
        history = costs.get(entity, [])
        label, fitted = trend.get(entity, ("stable", None))
        reg_count, reg_sev = 0, None
        if entity in found.index:
            reg_count = int(found.loc[entity, "regression_count"])
            reg_sev = str(found.loc[entity, "regression_severity"])
        utilization = _none(row["utilization"])
        inputs = RiskInputs(
            entity_id=str(entity),
            latency_p99_ms=float(row["p99_ms"]),
            latency_trend=label,  # type: ignore[arg-type]
            error_rate=min(1.0, max(0.0, float(_none(row["error_rate"]) or 0.0))),
            cost_current=history[-1] if history else None,
            cost_historical=tuple(history),
            regression_count=reg_count,
            regression_severity=reg_sev,  # type: ignore[arg-type]
            anomaly_count=anomalies.get(str(entity), 0),
            utilization=None if utilization is None else min(1.0, max(0.0, float(utilization))),
        )
        out.append(
            Sourced(
                inputs,
                {
                    "entityKind": kind,
                    "requests": int(row["requests"]),
                    "windowFrom": iso(row["window_from"].to_pydatetime()),
                    "windowTo": iso(row["window_to"].to_pydatetime()),
                    "trendRelativeChange": fitted,
                    "costDays": len(history),
                    "anomalies": anomalies.get(str(entity), 0),
                    "anomalyWindow": str(windows.anomaly_lookback),
                    "detections": "stored by the analyze flow (table detections)",
                },
            )
        )
    return out


# ------------------------------------------------------------------------------------ DAO


def dao_inputs(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    policy: Policy,
    environment: str = "production",
    ids: Sequence[str] | None = None,
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> list[Sourced]:
    """DAO subnet inputs: the subnet's reported points (samples) where it reports them, else the
    rollups of its raw requests.

    latency p99 and error rate: mean over the last hour; availability: mean over the SLO period
    (compliance is judged over the period the SLO is defined on, 30 days or the data there is);
    throughput: mean over 24 h (a floor judged over a whole daily cycle, so the nightly trough of
    demand is not a violation); burn rates: mean bad ratio ``max(error rate, 1 - availability)``
    over 1 h and 5 m divided by the error budget ``1 - target``.
    """
    where_ids, params = _ids_filter(ids)
    params |= {
        "env": environment,
        "as_of": as_of,
        "lat": as_of - windows.dao_latency,
        "avail": as_of - windows.dao_availability,
        "rps": as_of - windows.dao_throughput,
        "long": as_of - windows.dao_burn_long,
        "short": as_of - windows.dao_burn_short,
    }
    earliest = min(params["lat"], params["avail"], params["rps"], params["long"])
    params["earliest"] = earliest
    points = _df(
        con,
        f"""
        WITH p AS (
            SELECT entity_id, ts,
                   max(value) FILTER (WHERE metric = 'latency_p99') AS p99,
                   max(value) FILTER (WHERE metric = 'error_rate') AS er,
                   max(value) FILTER (WHERE metric = 'availability') AS av,
                   max(value) FILTER (WHERE metric = 'throughput_rps') AS rps
            FROM samples
            WHERE entity_kind = 'dao' AND environment = $env
              AND ts > $earliest AND ts <= $as_of {where_ids}
            GROUP BY entity_id, ts
        )
        SELECT entity_id,
               avg(p99) FILTER (WHERE ts > $lat) AS p99,
               avg(er) FILTER (WHERE ts > $lat) AS error_rate,
               avg(av) FILTER (WHERE ts > $avail) AS availability,
               avg(rps) FILTER (WHERE ts > $rps) AS rps,
               avg(greatest(coalesce(er, 0), coalesce(1 - av / 100, 0)))
                   FILTER (WHERE ts > $long AND (er IS NOT NULL OR av IS NOT NULL)) AS bad_long,
               avg(greatest(coalesce(er, 0), coalesce(1 - av / 100, 0)))
                   FILTER (WHERE ts > $short AND (er IS NOT NULL OR av IS NOT NULL)) AS bad_short
        FROM p GROUP BY entity_id
        """,
        params,
    ).set_index("entity_id")
    end = ceil_to(as_of, FIVE_MIN)
    params |= {
        "end": end,
        "lat5": end - windows.dao_latency,
        "avail5": end - windows.dao_availability,
        "rps5": end - windows.dao_throughput,
        "long5": end - windows.dao_burn_long,
        "short5": end - windows.dao_burn_short,
    }
    rolled = _df(
        con,
        f"""
        SELECT entity_id,
               sum(latency_p99 * requests) FILTER (WHERE window_start >= $lat5)
                   / nullif(sum(requests) FILTER (WHERE window_start >= $lat5
                                                  AND latency_p99 IS NOT NULL), 0) AS p99,
               CAST(sum(errors) FILTER (WHERE window_start >= $lat5) AS DOUBLE)
                   / nullif(sum(requests) FILTER (WHERE window_start >= $lat5
                                                  AND errors IS NOT NULL), 0) AS error_rate,
               sum(availability * requests) FILTER (WHERE window_start >= $avail5)
                   / nullif(sum(requests) FILTER (WHERE window_start >= $avail5), 0)
                   AS availability,
               avg(throughput_rps) FILTER (WHERE window_start >= $rps5) AS rps,
               1 - sum(availability * requests) FILTER (WHERE window_start >= $long5)
                   / nullif(sum(requests) FILTER (WHERE window_start >= $long5), 0) / 100
                   AS bad_long,
               1 - sum(availability * requests) FILTER (WHERE window_start >= $short5)
                   / nullif(sum(requests) FILTER (WHERE window_start >= $short5), 0) / 100
                   AS bad_short
        FROM rollups
        WHERE "window" = '5m' AND entity_kind = 'dao' AND environment = $env
          AND window_start >= $avail5 AND window_start < $end {where_ids}
        GROUP BY entity_id
        """,
        params,
    ).set_index("entity_id")
    names = sorted(set(points.index) | set(rolled.index))
    if ids is not None:
        names = [i for i in ids if i in set(names)]
    out = []
    for dao in names:
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for name in ("p99", "error_rate", "availability", "rps", "bad_long", "bad_short"):
            value = _none(points.at[dao, name]) if dao in points.index else None
            sources[name] = "points"
            if value is None and dao in rolled.index:
                value = _none(rolled.at[dao, name])
                sources[name] = "rollups"
            if value is None:
                sources[name] = "missing"
            values[name] = value
        if values["p99"] is None or values["availability"] is None:
            continue  # not enough to evaluate: no latency or availability at all
        target = policy.dao.targets_for(dao).availability_pct / 100.0
        # stats.slo's burn rate (bad ratio / (1 - SLO)); both windows go to the engine, which
        # applies the multi-window rule (both must burn).
        burn_long = (
            None if values["bad_long"] is None else burn_rate(max(0.0, values["bad_long"]), target)
        )
        burn_short = (
            None
            if values["bad_short"] is None
            else burn_rate(max(0.0, values["bad_short"]), target)
        )
        inputs = DaoInputs(
            dao_id=dao,
            latency_p99_ms=float(values["p99"]),
            availability_pct=min(100.0, max(0.0, float(values["availability"]))),
            throughput_rps=max(0.0, float(values["rps"] or 0.0)),
            error_rate=min(1.0, max(0.0, float(values["error_rate"] or 0.0))),
            burn_rate_long=None if burn_long is None else round(burn_long, 6),
            burn_rate_short=None if burn_short is None else round(burn_short, 6),
        )
        out.append(
            Sourced(
                inputs,
                {
                    "sources": sources,
                    "windows": {
                        "latency": str(windows.dao_latency),
                        "errorRate": str(windows.dao_latency),
                        "availability": str(windows.dao_availability),
                        "throughput": str(windows.dao_throughput),
                        "burnLong": str(windows.dao_burn_long),
                        "burnShort": str(windows.dao_burn_short),
                    },
                },
            )
        )
    return out


# ---------------------------------------------------------------------------------- CI/CD


def default_baseline(
    con: duckdb.DuckDBPyConnection, deployment: str, environment: str = "production"
) -> str:
    """The deployment that was in service when ``deployment`` first appeared: the one first seen
    most recently before it."""
    rows = _exec(
        con,
        """
        WITH firsts AS (
            SELECT entity_id, min(window_start) AS first_seen FROM rollups
            WHERE "window" = '1h' AND entity_kind = 'deployment' AND environment = $env
            GROUP BY entity_id
        )
        SELECT entity_id FROM firsts
        WHERE entity_id <> $dep
          AND first_seen < (SELECT first_seen FROM firsts WHERE entity_id = $dep)
        ORDER BY first_seen DESC, entity_id LIMIT 1
        """,
        {"env": environment, "dep": deployment},
    ).fetchall()
    if not rows:
        raise NotFoundError(
            f"no baseline for deployment {deployment!r}: no deployment was seen before it in "
            f"{environment!r}; pass --baseline VERSION"
        )
    return str(rows[0][0])


def gate_inputs(
    con: duckdb.DuckDBPyConnection,
    deployment: str,
    baseline: str | None = None,
    environment: str = "production",
) -> Sourced:
    """Gate metrics of a deployment and its baseline over the same time range (the deployment's
    first to last request), exact from raw requests: p95, p99, error rate, cache hit rate."""
    require_known(con, "deployment", [deployment], environment)
    if baseline is None:
        baseline = default_baseline(con, deployment, environment)
    else:
        require_known(con, "deployment", [baseline], environment)
    span = _exec(
        con,
        """SELECT min(ts), max(ts), count(*) FROM requests
           WHERE entity_kind = 'deployment' AND entity_id = $dep AND environment = $env""",
        {"dep": deployment, "env": environment},
    ).fetchall()[0]
    if not span[2]:
        raise NotFoundError(f"deployment {deployment!r} has no raw requests in {environment!r}")
    start, end = span[0], span[1]
    frame = _df(
        con,
        """
        SELECT entity_id, count(*) AS requests,
               quantile_cont(latency_ms, [0.95, 0.99]) AS q,
               avg(CASE WHEN ok THEN 0.0 ELSE 1.0 END) AS error_rate,
               avg(CASE WHEN cache_hit THEN 1.0 WHEN NOT cache_hit THEN 0.0 END) AS cache_hit_rate,
               count(cache_hit) AS cache_lookups
        FROM requests
        WHERE entity_kind = 'deployment' AND environment = $env
          AND entity_id IN ($dep, $base) AND ts BETWEEN $start AND $end
        GROUP BY entity_id
        """,
        {"env": environment, "dep": deployment, "base": baseline, "start": start, "end": end},
    ).set_index("entity_id")
    if baseline not in frame.index:
        raise NotFoundError(
            f"baseline {baseline!r} has no requests between {start:%Y-%m-%d %H:%M} and "
            f"{end:%Y-%m-%d %H:%M}, while {deployment!r} was running; pick another --baseline"
        )
    cand, base = frame.loc[deployment], frame.loc[baseline]
    cache_c, cache_b = _none(cand["cache_hit_rate"]), _none(base["cache_hit_rate"])
    cache_note = None
    if cache_c is None or cache_b is None:
        # No cacheable requests on one side: compare like with like rather than invent a miss.
        cache_note = "no cacheable requests on one side: cache criterion compared as equal"
        cache_c = cache_b = cache_c if cache_c is not None else (cache_b or 0.0)

    def metrics(row: pd.Series, cache: float) -> GateMetrics:
        q = list(row["q"])
        return GateMetrics(
            p95_latency=round(float(q[0]), 3),
            p99_latency=round(float(q[1]), 3),
            error_rate=round(float(row["error_rate"]), 6),
            cache_hit_rate=round(float(cache), 6),
        )

    inputs = GateInputs(
        deployment_id=deployment,
        candidate=metrics(cand, cache_c),
        baseline=metrics(base, cache_b),
    )
    return Sourced(
        inputs,
        {
            "baseline": baseline,
            "environment": environment,
            "from": iso(start),
            "to": iso(end),
            "requests": {deployment: int(cand["requests"]), baseline: int(base["requests"])},
            "cacheLookups": {
                deployment: int(cand["cache_lookups"]),
                baseline: int(base["cache_lookups"]),
            },
            "cacheNote": cache_note,
            "table": "requests (exact quantiles)",
        },
    )


# -------------------------------------------------------------------------------- go-live


_BUCKETS = (1, 2, 3, 5, 10, 15, 30)


def _p99_buckets(
    con: duckdb.DuckDBPyConnection,
    module: str,
    environment: str,
    as_of: datetime,
    minutes: int,
    op_type: str,
    min_bucket_requests: int,
) -> tuple[list[float] | LatencyWindow | None, dict[str, Any]]:
    start = as_of - timedelta(minutes=minutes)
    params = {"mod": module, "env": environment, "start": start, "as_of": as_of, "op": op_type}
    total = _exec(
        con,
        """SELECT count(*) FROM requests
           WHERE entity_kind = 'module' AND entity_id = $mod AND environment = $env
             AND op_type = $op AND ts > $start AND ts <= $as_of""",
        params,
    ).fetchall()[0][0]
    if not total:
        return None, {"requests": 0}
    per_minute = total / minutes
    bucket = next((b for b in _BUCKETS if per_minute * b >= min_bucket_requests), minutes)
    frame = _df(
        con,
        f"""
        SELECT time_bucket(INTERVAL '{bucket} minutes', ts, CAST($start AS TIMESTAMP)) AS b,
               count(*) AS n, quantile_cont(latency_ms, 0.99) AS p99
        FROM requests
        WHERE entity_kind = 'module' AND entity_id = $mod AND environment = $env
          AND op_type = $op AND ts > $start AND ts <= $as_of
        GROUP BY 1 ORDER BY 1
        """,
        params,
    )
    values = [round(float(v), 3) for v in frame["p99"]]
    info = {"requests": int(total), "bucketMinutes": bucket, "buckets": len(values)}
    if bucket == 1:
        return values, info
    info["bucketP99"] = values
    return LatencyWindow(max_p99_ms=max(values), minutes=bucket * len(values)), info


def module_capacity(
    con: duckdb.DuckDBPyConnection,
    module: str,
    environment: str,
    as_of: datetime,
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> tuple[float | None, float | None, dict[str, Any]]:
    """Peak and capacity rps of a module from complete hours of the last 7 days.

    peak = the highest hourly mean rps. capacity = the rps at which utilization would reach 100%
    on a straight line ``utilization = a + c·rps`` fitted through the hours (a is the base load).
    Utilization is the module's own (points) if it reports it, else the mean utilization of the
    nodes in the same environment (the fleet that serves the modules). No fit (fewer than 24 hours,
    a slope ≤ 0 or R² < 0.5) means capacity unknown: the gate says insufficient_data.
    """
    params = {
        "mod": module,
        "env": environment,
        "start": as_of - windows.golive_capacity,
        "last": as_of - timedelta(hours=1),
    }
    frame = _df(
        con,
        """
        WITH m AS (
            SELECT window_start, throughput_rps, utilization FROM rollups
            WHERE "window" = '1h' AND entity_kind = 'module' AND entity_id = $mod
              AND environment = $env AND window_start >= $start AND window_start <= $last
        ),
        fleet AS (
            SELECT window_start, avg(utilization) AS utilization FROM rollups
            WHERE "window" = '1h' AND entity_kind = 'node' AND environment = $env
              AND window_start >= $start AND window_start <= $last
              AND utilization IS NOT NULL
            GROUP BY window_start
        )
        SELECT m.window_start, m.throughput_rps AS rps,
               coalesce(m.utilization, fleet.utilization) AS utilization,
               m.utilization IS NOT NULL AS own
        FROM m LEFT JOIN fleet USING (window_start)
        ORDER BY 1
        """,
        params,
    )
    frame = frame[frame["rps"].notna()]
    info: dict[str, Any] = {"hours": len(frame)}
    if frame.empty:
        return None, None, info
    peak = float(frame["rps"].max())
    fit = frame[frame["utilization"].notna()]
    info["utilizationSource"] = (
        "module" if bool(fit["own"].any()) else "fleet (mean node utilization)"
    )
    info["fitHours"] = len(fit)
    if len(fit) < windows.golive_min_capacity_hours or fit["rps"].nunique() < 2:
        info["reason"] = f"fewer than {windows.golive_min_capacity_hours} hours with utilization"
        return peak, None, info
    x = fit["rps"].to_numpy(dtype=np.float64)
    y = fit["utilization"].to_numpy(dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    predicted = intercept + slope * x
    ss_res = float(((y - predicted) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    info |= {"baseUtilization": round(float(intercept), 6), "utilizationPerRps": float(slope)}
    info["r2"] = round(r2, 4)
    if slope <= 0 or r2 < windows.golive_min_capacity_r2 or intercept >= 1:
        info["reason"] = "utilization does not rise with traffic clearly enough to fit capacity"
        return peak, None, info
    capacity = (1.0 - intercept) / slope
    return round(peak, 6), round(float(capacity), 6), info


def golive_inputs(
    con: duckdb.DuckDBPyConnection,
    module: str,
    environment: str,
    as_of: datetime,
    policy: Policy,
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> Sourced:
    """Go-live inputs of one module in one environment.

    latency: p99 of reads and of writes (all writes are held to the complex-write target: the
    warehouse does not record complexity) per minute over the last ``steady_state_minutes``, from
    raw requests, pooled into longer buckets when a minute has too few requests; errorBudget:
    errors and requests of the last 7 days (5m rollups); cache: hit rate of cacheable requests
    (the module's hot queries) over 24 h; cost: daily costs; capacity: :func:`module_capacity`.
    """
    require_known(con, "module", [module], environment)
    minutes = policy.golive.steady_state_minutes
    read, read_info = _p99_buckets(
        con, module, environment, as_of, minutes, "read", windows.golive_min_bucket_requests
    )
    write, write_info = _p99_buckets(
        con, module, environment, as_of, minutes, "write", windows.golive_min_bucket_requests
    )
    end = ceil_to(as_of, FIVE_MIN)
    errors, requests = _exec(
        con,
        """SELECT sum(errors), sum(requests) FILTER (WHERE errors IS NOT NULL) FROM rollups
           WHERE "window" = '5m' AND entity_kind = 'module' AND entity_id = $mod
             AND environment = $env AND window_start >= $start AND window_start < $end""",
        {"mod": module, "env": environment, "start": end - windows.golive_errors, "end": end},
    ).fetchall()[0]
    lookups, hit_rate = _exec(
        con,
        """SELECT count(cache_hit), avg(CASE WHEN cache_hit THEN 1.0 WHEN NOT cache_hit THEN 0.0 END)
           FROM requests
           WHERE entity_kind = 'module' AND entity_id = $mod AND environment = $env
             AND ts > $start AND ts <= $as_of""",
        {"mod": module, "env": environment, "start": as_of - windows.golive_cache, "as_of": as_of},
    ).fetchall()[0]
    costs = daily_costs(con, "module", as_of, environment, [module], windows.cost_days)
    peak, capacity, capacity_info = module_capacity(con, module, environment, as_of, windows)
    inputs = GoLiveInputs(
        module=module,
        environment=environment,
        read_p99_ms=read if read is not None else (),
        complex_write_p99_ms=write,
        errors_7d=None if errors is None else int(errors),
        requests_7d=None if requests is None else int(requests),
        cache_hit_rate=None if hit_rate is None else round(float(hit_rate), 6),
        cache_lookups=int(lookups or 0),
        daily_costs=tuple(costs.get(module, [])),
        peak_rps=peak,
        capacity_rps=capacity,
    )
    return Sourced(
        inputs,
        {
            "latency": {"read": read_info, "write": write_info, "writesHeldToComplexTarget": True},
            "errorBudgetWindow": str(windows.golive_errors),
            "cacheWindow": str(windows.golive_cache),
            "hotQueries": "cacheable requests of the module",
            "capacity": capacity_info,
        },
    )


def module_environments(
    con: duckdb.DuckDBPyConnection, modules: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """(module, environment) pairs the rollups know, optionally for some modules only."""
    rows = _exec(
        con,
        """SELECT DISTINCT entity_id, environment FROM rollups
           WHERE "window" = '1h' AND entity_kind = 'module' ORDER BY 1, 2""",
    ).fetchall()
    pairs = [(str(m), str(e)) for m, e in rows]
    if modules is not None:
        wanted = set(modules)
        pairs = [p for p in pairs if p[0] in wanted]
    return pairs


# ---------------------------------------------------------------------------------- Qflow


def operation_conditions(
    con: duckdb.DuckDBPyConnection,
    operation_id: str,
    op_type: str,
    as_of: datetime,
    policy: Policy,
    environment: str = "production",
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Current conditions of an operation, from its raw requests.

    estimated latency: p95 of the operation's requests of this type over the last hour (24 h if
    the hour has fewer than 50; all types if it has none of this type); burn: error ratio over
    1 h and 5 m divided by the error budget, the smaller of the two (both windows must burn);
    SLO violation: success ratio over the SLO period (30 days or the data there is) below the
    objective; cache: available if the operation has cacheable requests in 24 h, with their hit
    rate.
    """
    require_known(con, "operation", [operation_id], environment)
    base = {"op": operation_id, "env": environment, "as_of": as_of}
    typed = _exec(
        con,
        """SELECT count(*) FROM requests WHERE entity_kind = 'operation' AND entity_id = $op
           AND environment = $env AND op_type = $type AND ts <= $as_of""",
        base | {"type": op_type},
    ).fetchall()[0][0]
    type_filter = "AND op_type = $type" if typed else ""
    estimate, n, window = None, 0, None
    for lookback in (windows.qflow_latency, timedelta(hours=24)):
        n, estimate = _exec(
            con,
            f"""SELECT count(*), quantile_cont(latency_ms, 0.95) FROM requests
                WHERE entity_kind = 'operation' AND entity_id = $op AND environment = $env
                  {type_filter} AND ts > $start AND ts <= $as_of""",
            base | {"start": as_of - lookback} | ({"type": op_type} if typed else {}),
        ).fetchall()[0]
        window = lookback
        if n >= 50:
            break
    stats = _exec(
        con,
        """SELECT
             avg(CASE WHEN ok THEN 0.0 ELSE 1.0 END) FILTER (WHERE ts > $long) AS er_long,
             avg(CASE WHEN ok THEN 0.0 ELSE 1.0 END) FILTER (WHERE ts > $short) AS er_short,
             avg(CASE WHEN ok THEN 1.0 ELSE 0.0 END) AS success_period,
             count(cache_hit) FILTER (WHERE ts > $day) AS lookups,
             avg(CASE WHEN cache_hit THEN 1.0 WHEN NOT cache_hit THEN 0.0 END)
                 FILTER (WHERE ts > $day) AS hit_rate
           FROM requests
           WHERE entity_kind = 'operation' AND entity_id = $op AND environment = $env
             AND ts > $period AND ts <= $as_of""",
        base
        | {
            "long": as_of - windows.qflow_latency,
            "short": as_of - windows.qflow_burn_short,
            "day": as_of - timedelta(hours=24),
            "period": as_of - windows.slo_period,
        },
    ).fetchall()[0]
    er_long, er_short, success, lookups, hit_rate = stats
    # Multi-window: the burn in force is the smaller of the long and short windows' burn rates
    # (stats.slo: both windows must exceed a threshold for it to count).
    burns = [burn_rate(r, policy.slo.objective) for r in (er_long, er_short) if r is not None]
    conditions = {
        "slo_violation": bool(success is not None and success < policy.slo.objective),
        "estimated_latency_ms": None if estimate is None else round(float(estimate), 3),
        "error_budget_burn": round(min(burns), 6) if burns else 0.0,
        "cache_available": bool(lookups),
        "cache_hit_rate": None if hit_rate is None else round(float(hit_rate), 6),
    }
    source = {
        "latencySamples": int(n or 0),
        "latencyWindow": str(window),
        "latencyOfType": bool(typed),
        "burnLong": None if er_long is None else round(burn_rate(er_long, policy.slo.objective), 6),
        "burnShort": None
        if er_short is None
        else round(burn_rate(er_short, policy.slo.objective), 6),
        "successRatioSloPeriod": None if success is None else round(float(success), 6),
        "cacheLookups24h": int(lookups or 0),
    }
    return conditions, source


def operation_inputs(
    con: duckdb.DuckDBPyConnection,
    base: OperationInputs,
    as_of: datetime,
    policy: Policy,
    environment: str = "production",
    windows: EvaluationWindows = DEFAULT_WINDOWS,
) -> Sourced:
    """``base`` (operation, type, complexity, priority from the caller) with the warehouse's
    current conditions filled in."""
    conditions, source = operation_conditions(
        con, base.operation_id, base.type, as_of, policy, environment, windows
    )
    from dataclasses import replace

    return Sourced(replace(base, **conditions), source)
