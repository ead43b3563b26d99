"""The analyze run in shards: plan (fleet-wide facts + Parquet export), shards, one landing.

The detectors are per entity except for two fleet-wide inputs, which the plan computes once from
the warehouse so that every shard sees what the unsharded run sees:

* the span of each (kind, series): its bounds and analysis state decide which windows are read;
* for peer-normalised series, the fleet's median per window (computed column block by column
  block, so memory stays bounded by the block, not the fleet).

A shard then runs :func:`ecoperf_core.analysis.runner._analyse_plan` on views over its Parquet
partition and writes its detections and state rows as Parquet. :func:`land` stores all shards'
rows through :func:`ecoperf_core.analysis.store.write` in ONE writer transaction, after checking
that no other analyze run advanced the state since the plan was made (else the run is repeated:
detections have stable ids, so nothing is stored twice). The result is the unsharded run's.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ecoperf_core.analysis import store as astore
from ecoperf_core.analysis.config import DEFAULT_CONFIG, AnalysisConfig
from ecoperf_core.analysis.runner import AnalysisResult, SeriesSpan, _analyse_plan, series_span
from ecoperf_core.errors import TransientError
from ecoperf_core.evaluation import readers
from ecoperf_core.evaluation.series import column_medians
from ecoperf_core.evaluation.store import utc_now
from ecoperf_core.scale import exchange
from ecoperf_core.timeutil import window_seconds
from ecoperf_core.warehouse import reader, writer

# Cells of one block of the fleet matrix the medians are computed on (~32 MB of float64).
MEDIAN_BLOCK_CELLS = 4_000_000

_DETECTION_COLUMNS = {
    "entity_kind": "str",
    "entity_id": "str",
    "environment": "str",
    "metric": "str",
    "window": "str",
    "detector": "str",
    "detected_at": "datetime64[us]",
    "before_level": "float64",
    "after_level": "float64",
    "relative_change": "float64",
    "p_value": "float64",
    "score": "float64",
    "evidence": "str",
}
_STATE_COLUMNS = {
    "entity_kind": "str",
    "entity_id": "str",
    "environment": "str",
    "metric": "str",
    "window": "str",
    "detector": "str",
    "last_window_start": "datetime64[us]",
    "segment_start": "datetime64[us]",
}


@dataclass(frozen=True)
class SeriesJob:
    """One (kind, series) every shard analyses, with the fleet-wide facts it needs."""

    kind: str
    plan_index: int
    span: SeriesSpan
    # The fleet's median per window (peer-normalised series with 3+ entities), else None.
    medians: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ShardPlan:
    """What every shard of one run needs: small, picklable, the same for all shards."""

    run_dir: Path
    shards: int
    data_end: datetime
    jobs: tuple[SeriesJob, ...]
    state_mark: tuple[int, str | None]
    config: AnalysisConfig = DEFAULT_CONFIG
    exported_rows: int = 0
    seconds: float = 0.0


@dataclass
class ShardOutcome:
    """What one shard did (returned to the flow; its rows are in Parquet)."""

    shard: int
    found: int = 0
    state_rows: int = 0
    series: int = 0
    points: int = 0
    started: float = 0.0  # wall-clock (time.time) start and end of the shard's own compute
    ended: float = 0.0
    pid: int = field(default_factory=os.getpid)  # which process ran it (a Dask worker?)
    extra: dict[str, Any] = field(default_factory=dict)


def _state_mark(con: duckdb.DuckDBPyConnection) -> tuple[int, str | None]:
    count, newest = con.execute(
        "SELECT count(*), CAST(max(updated_at) AS VARCHAR) FROM analysis_state"
    ).fetchall()[0]
    return int(count), newest


def _fleet_medians(
    con: duckdb.DuckDBPyConnection, kind: str, env: str, metric: str, window: str, span: SeriesSpan
) -> tuple[float, ...] | None:
    """The median per window of the whole fleet (``peer_relative``'s), block by block."""
    step = timedelta(seconds=window_seconds(window))
    rows = con.execute(
        f"""SELECT count(DISTINCT entity_id) FROM rollups
            WHERE "window" = $w AND entity_kind = $k AND environment = $e
              AND window_start >= $start AND window_start < $end AND {metric} IS NOT NULL""",
        {"w": window, "k": kind, "e": env, "start": span.start, "end": span.end},
    ).fetchall()[0][0]
    if rows < 3:
        return None  # no peers: peer_relative leaves the series raw, in every shard too
    n_cols = int(span.lookback / step)
    block = max(1, MEDIAN_BLOCK_CELLS // rows)
    medians: list[float] = []
    for first in range(0, n_cols, block):
        cols = min(block, n_cols - first)
        block_end = span.start + (first + cols) * step
        _ids, matrix, _ts = readers.latency_matrix(
            con, kind, block_end, env, cols * step, window, column=metric
        )
        if matrix.shape[0] == 0:
            medians.extend([float("nan")] * cols)
        else:
            medians.extend(column_medians(matrix, rows).tolist())
    return tuple(medians)


def _rollup_filter(jobs: tuple[SeriesJob, ...], cfg: AnalysisConfig) -> str:
    """Rows of ``rollups`` some shard of the run reads."""
    ors = []
    for job in jobs:
        plan = cfg.plans[job.plan_index]
        ors.append(
            f"""("window" = {exchange.literal(plan.window)}
                 AND entity_kind = {exchange.literal(job.kind)}
                 AND window_start >= {exchange.literal(job.span.start)}
                 AND window_start < {exchange.literal(job.span.end)}
                 AND {plan.metric} IS NOT NULL)"""
        )
    return " OR ".join(ors) if ors else "FALSE"


def plan(
    db_path: Path,
    exchange_root: Path,
    shards: int,
    cfg: AnalysisConfig = DEFAULT_CONFIG,
    timeout_s: float = 600.0,
) -> ShardPlan:
    """The fleet-wide part: spans, medians, and the shards' inputs exported as Parquet."""
    started = time.perf_counter()
    env = cfg.environment
    # The plans' metrics and their trials columns (the count test of rare-event rates).
    metrics = sorted({p.metric for p in cfg.plans} | {p.trials for p in cfg.plans if p.trials})
    with reader(db_path, timeout_s=timeout_s) as con:
        exchange.cap_memory(con)
        data_end = readers.latest_data_time(con)
        kinds = [
            str(k)
            for (k,) in con.execute(
                "SELECT DISTINCT entity_kind FROM rollups WHERE environment = $e ORDER BY 1",
                {"e": env},
            ).fetchall()
            if k in cfg.kinds
        ]
        jobs: list[SeriesJob] = []
        for kind in kinds:
            for index, series in enumerate(cfg.plans):
                span = series_span(con, kind, series, cfg, data_end)
                if span is None:
                    continue
                medians = None
                if series.normalise == "peer":
                    medians = _fleet_medians(con, kind, env, series.metric, series.window, span)
                jobs.append(SeriesJob(kind, index, span, medians))
        mark = _state_mark(con)
        run_dir = exchange.new_run_dir(exchange_root, "analyze")
        exported = 0
        if jobs:
            columns = ", ".join(
                ["entity_kind", "entity_id", "environment", '"window"', "window_start", *metrics]
            )
            exported += exchange.export_table(
                con,
                f"""SELECT {columns} FROM rollups
                    WHERE environment = {exchange.literal(env)} AND ({_rollup_filter(tuple(jobs), cfg)})""",
                run_dir,
                "rollups",
                shards,
                "window_start",
            )
            exported += exchange.export_table(
                con,
                f"SELECT * FROM analysis_state WHERE environment = {exchange.literal(env)}",
                run_dir,
                "analysis_state",
                shards,
                None,
            )
    return ShardPlan(
        run_dir=run_dir,
        shards=shards,
        data_end=data_end,
        jobs=tuple(jobs),
        state_mark=mark,
        config=cfg,
        exported_rows=exported,
        seconds=time.perf_counter() - started,
    )


def _typed(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for name, dtype in columns.items():
        if dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name]).astype(dtype)
        else:
            frame[name] = frame[name].astype(dtype if dtype != "str" else object)
    return frame


def run_shard(shard_plan: ShardPlan, shard: int) -> ShardOutcome:
    """Analyse the entities of one shard from its Parquet partition; write what it found."""
    outcome = ShardOutcome(shard=shard, started=time.time())
    cfg = shard_plan.config
    result = AnalysisResult()
    rows: list[dict[str, Any]] = []
    state_rows: list[dict[str, Any]] = []
    con = duckdb.connect()  # in memory: the shard never opens the warehouse
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET threads = 1")  # shards are the parallelism; one core each
        if shard_plan.jobs:
            exchange.attach_shard(con, shard_plan.run_dir, "rollups", shard)
            exchange.attach_shard(con, shard_plan.run_dir, "analysis_state", shard)
        for job in shard_plan.jobs:
            medians = None if job.medians is None else np.asarray(job.medians, np.float64)
            found, states = _analyse_plan(
                con,
                job.kind,
                cfg.plans[job.plan_index],
                cfg,
                shard_plan.data_end,
                result,
                span=job.span,
                medians=medians,
            )
            rows.extend(found)
            state_rows.extend(states)
    finally:
        con.close()
    for row in rows:
        row["evidence"] = json.dumps(row["evidence"], default=str, allow_nan=False)
    exchange.write_result(_typed(rows, _DETECTION_COLUMNS), shard_plan.run_dir, "detections", shard)
    exchange.write_result(_typed(state_rows, _STATE_COLUMNS), shard_plan.run_dir, "state", shard)
    outcome.found, outcome.state_rows = len(rows), len(state_rows)
    outcome.series, outcome.points = result.series, result.points
    outcome.ended = time.time()
    return outcome


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.to_dict("records"):
        clean: dict[str, Any] = {}
        for key, value in record.items():
            if isinstance(value, pd.Timestamp):
                clean[key] = value.to_pydatetime()
            elif value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
                clean[key] = None
            else:
                clean[key] = value
        out.append(clean)
    return out


def land(
    db_path: Path,
    shard_plan: ShardPlan,
    outcomes: list[ShardOutcome],
    timeout_s: float = 600.0,
    keep_exchange: bool = False,
) -> AnalysisResult:
    """Store every shard's detections and state in one writer transaction."""
    started = time.perf_counter()
    result = AnalysisResult(as_of=shard_plan.data_end)
    detections = exchange.read_results(shard_plan.run_dir, "detections", shard_plan.shards)
    # State rows (one per entity and series: a whole fleet's) stay in Parquet until DuckDB
    # inserts them; detections are few and take the unsharded path's Python route.
    states, state_count = exchange.result_relation(shard_plan.run_dir, "state", shard_plan.shards)
    rows = _records(detections)
    for row in rows:
        row["evidence"] = json.loads(row["evidence"])
    with writer(db_path, timeout_s=timeout_s) as con:
        exchange.cap_memory(con)
        if _state_mark(con) != shard_plan.state_mark:
            raise TransientError(
                "another analyze run stored detections since this run's plan; run it again "
                "(what this run found is not stored, so nothing is lost or stored twice)"
            )
        result.found = len(rows)
        if rows or state_count:
            result.stored = astore.write(
                con,
                rows,
                [],
                utc_now(),
                shard_plan.config.detector_version,
                state_relation=states,
            )
    if not keep_exchange:
        exchange.remove_run(shard_plan.run_dir)
    rows.sort(key=lambda r: (r["detector"] != "changepoint", -abs(r["relative_change"] or 0.0)))
    result.detections = rows if result.stored else []
    for r in rows:
        result.by_detector[r["detector"]] = result.by_detector.get(r["detector"], 0) + 1
    result.series = sum(o.series for o in outcomes)
    result.points = sum(o.points for o in outcomes)
    result.seconds = shard_plan.seconds + time.perf_counter() - started
    return result


def analyze_sharded(
    db_path: Path,
    exchange_root: Path,
    shards: int,
    cfg: AnalysisConfig = DEFAULT_CONFIG,
    timeout_s: float = 600.0,
) -> AnalysisResult:
    """Plan, every shard one after another, land: the sharded run in one process (tests, CLI)."""
    shard_plan = plan(db_path, exchange_root, shards, cfg, timeout_s)
    outcomes = [run_shard(shard_plan, k) for k in range(shards)]
    return land(db_path, shard_plan, outcomes, timeout_s)
