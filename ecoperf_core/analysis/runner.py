"""One analyze run: every configured series of every entity kind, detections stored together.

The whole run holds the warehouse's writer (reads, detection, write): analysis state is read and
advanced by the same unit of work, so two runs can never both analyse the same new windows. Only
*complete* windows are analysed (those ending at or before the latest loaded sample time): a window
still filling would be analysed on partial data and never again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ecoperf_core.analysis import detect
from ecoperf_core.analysis import store as astore
from ecoperf_core.analysis.config import DEFAULT_CONFIG, AnalysisConfig, SeriesPlan
from ecoperf_core.evaluation import readers
from ecoperf_core.evaluation.store import utc_now
from ecoperf_core.timeutil import window_seconds
from ecoperf_core.warehouse import writer


@dataclass
class AnalysisResult:
    """What one run analysed and stored."""

    stored: int = 0
    found: int = 0
    points: int = 0
    series: int = 0
    seconds: float = 0.0
    as_of: datetime | None = None
    by_detector: dict[str, int] = field(default_factory=dict)
    detections: list[dict[str, Any]] = field(default_factory=list)  # the new ones

    def summary(self, show: int = 20) -> dict[str, Any]:
        """Small JSON-able digest for flows, the CLI and the demo."""
        return {
            "asOf": None if self.as_of is None else self.as_of.isoformat(),
            "stored": self.stored,
            "found": self.found,
            "series": self.series,
            "points": self.points,
            "seconds": round(self.seconds, 3),
            "byDetector": dict(sorted(self.by_detector.items())),
            "detections": [
                {
                    k: (v.isoformat() if isinstance(v, datetime) else v)
                    for k, v in d.items()
                    if k != "evidence"
                }
                for d in self.detections[:show]
            ],
        }


def _col_of(slots: np.ndarray, moment: datetime | None, default: int) -> int:
    """Column of the window starting at ``moment`` (or where it would be)."""
    if moment is None:
        return default
    return int(np.searchsorted(slots, np.datetime64(moment, "us")))


def _trials_matrix(
    con: Any,
    kind: str,
    env: str,
    plan: SeriesPlan,
    as_of: datetime,
    lookback: timedelta,
    ids: list[str],
) -> np.ndarray | None:
    """The plan's trials (requests per window) aligned with the metric matrix's rows."""
    if plan.trials is None:
        return None
    trial_ids, matrix, _ts = readers.latency_matrix(
        con, kind, as_of, env, lookback, plan.window, ids=ids, column=plan.trials
    )
    out = np.full((len(ids), matrix.shape[1]), np.nan)
    row_of = {entity: r for r, entity in enumerate(ids)}
    for r, entity in enumerate(trial_ids):
        out[row_of[entity]] = matrix[r]
    return out


@dataclass(frozen=True)
class SeriesSpan:
    """The windows one (kind, series) run examines: the matrix ``[start, end + step)``.

    Computed from the whole fleet (its bounds and analysis state), so a shard holding some of
    the entities reads exactly the columns the unsharded run reads."""

    first: datetime
    last: datetime
    end: datetime
    start: datetime

    @property
    def lookback(self) -> timedelta:
        return self.end - self.start


def series_span(
    con: Any, kind: str, plan: SeriesPlan, cfg: AnalysisConfig, data_end: datetime
) -> SeriesSpan | None:
    """The span of one (kind, series) over the whole fleet, or None when nothing is due."""
    env = cfg.environment
    if plan.kinds is not None and kind not in plan.kinds:
        return None
    step = timedelta(seconds=window_seconds(plan.window))
    first, last = astore.series_bounds(con, kind, env, plan.metric, plan.window)
    if first is None or last is None:
        return None
    # Complete windows only: the last one must end at or before the latest sample time.
    boundary = readers.ceil_to(data_end, step)
    if boundary > data_end:
        boundary -= step
    end = min(last, boundary - step)
    if end < first:
        return None
    states = {
        d: astore.read_state(con, kind, env, plan.metric, plan.window, d)
        for d in _detectors_of(plan)
    }
    if states and all(s and all(lw >= end for lw, _seg in s.values()) for s in states.values()):
        return None  # nothing new for any series of this kind (a new entity would be missing)
    horizon = end - (cfg.max_window - 1) * step
    starts: list[datetime] = [first]
    for d, state in states.items():
        for lw, seg in state.values():
            starts.append(
                seg if d == "changepoint" and seg is not None else lw - cfg.anomaly_warmup * step
            )
    span_start = max(horizon, first, min(starts))
    return SeriesSpan(first=first, last=last, end=end + step, start=span_start)


def _detectors_of(plan: SeriesPlan) -> list[str]:
    return [d for d, on in (("changepoint", plan.changepoint), ("anomaly", plan.anomaly)) if on]


def _analyse_plan(
    con: Any,
    kind: str,
    plan: SeriesPlan,
    cfg: AnalysisConfig,
    data_end: datetime,
    result: AnalysisResult,
    *,
    span: SeriesSpan | None = None,
    medians: np.ndarray | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Detections and state rows of one (kind, series).

    A shard passes the fleet's ``span`` and, for peer-normalised series, the fleet's
    ``medians`` per window (its own rows are only some of the peers)."""
    env = cfg.environment
    if span is None:
        span = series_span(con, kind, plan, cfg, data_end)
        if span is None:
            return [], []
    detectors = _detectors_of(plan)
    states = {d: astore.read_state(con, kind, env, plan.metric, plan.window, d) for d in detectors}
    ids, raw, ts = readers.latency_matrix(
        con, kind, span.end, env, span.lookback, plan.window, column=plan.metric
    )
    if not ids:
        return [], []
    series = detect.normalise(raw, plan, medians)
    slots = np.asarray(ts, dtype="datetime64[us]")
    n_cols = raw.shape[1]
    finite = np.isfinite(series)
    has = finite.any(axis=1)
    first_col = np.where(has, finite.argmax(axis=1), n_cols)
    last_col = np.where(has, n_cols - 1 - finite[:, ::-1].argmax(axis=1), -1)
    rows: list[dict[str, Any]] = []
    state_rows: list[dict[str, Any]] = []
    for d in detectors:
        state = states[d]
        new_from = np.empty(len(ids), dtype=np.int64)
        seg_col = np.empty(len(ids), dtype=np.int64)
        for i, entity in enumerate(ids):
            lw, seg = state.get(entity, (None, None))
            new_from[i] = first_col[i] if lw is None else _col_of(slots, lw, 0) + 1
            seg_col[i] = first_col[i] if seg is None else max(_col_of(slots, seg, 0), first_col[i])
        due = has & (last_col >= new_from)
        result.series += int(due.sum())
        result.points += int(sum(int(finite[i, new_from[i] :].sum()) for i in np.flatnonzero(due)))
        new_starts: dict[str, datetime] = {}
        if d == "changepoint":
            start_col = np.where(due, seg_col, n_cols)
            trials = _trials_matrix(con, kind, env, plan, span.end, span.lookback, ids)
            found, new_starts = detect.change_points(
                ids, raw, series, ts, start_col, plan, cfg, trials=trials
            )
        else:
            found = detect.anomalies(ids, series, ts, np.where(due, new_from, n_cols), plan, cfg)
        for f in found:
            rows.append(
                {
                    "entity_kind": kind,
                    "entity_id": f.entity_id,
                    "environment": env,
                    "metric": plan.metric,
                    "window": plan.window,
                    "detector": f.detector,
                    "detected_at": f.detected_at,
                    "before_level": f.before_level,
                    "after_level": f.after_level,
                    "relative_change": f.relative_change,
                    "p_value": f.p_value,
                    "score": f.score,
                    "evidence": f.evidence,
                }
            )
        for i in np.flatnonzero(due):
            entity = ids[i]
            _lw, seg = state.get(entity, (None, None))
            if d == "changepoint":
                seg = new_starts.get(entity, seg if seg is not None else ts[int(first_col[i])])
            state_rows.append(
                {
                    "entity_kind": kind,
                    "entity_id": entity,
                    "environment": env,
                    "metric": plan.metric,
                    "window": plan.window,
                    "detector": d,
                    "last_window_start": ts[int(last_col[i])],
                    "segment_start": seg if d == "changepoint" else None,
                }
            )
    return rows, state_rows


def analyze(
    db_path: Path, cfg: AnalysisConfig = DEFAULT_CONFIG, timeout_s: float = 600.0
) -> AnalysisResult:
    """Analyse every new complete window of every configured series; store what was found."""
    started = time.perf_counter()
    result = AnalysisResult()
    with writer(db_path, timeout_s=timeout_s) as con:
        data_end = readers.latest_data_time(con)
        result.as_of = data_end
        kinds = [
            str(k)
            for (k,) in con.execute(
                "SELECT DISTINCT entity_kind FROM rollups WHERE environment = $e ORDER BY 1",
                {"e": cfg.environment},
            ).fetchall()
            if k in cfg.kinds
        ]
        rows: list[dict[str, Any]] = []
        state_rows: list[dict[str, Any]] = []
        for kind in kinds:
            for plan in cfg.plans:
                r, s = _analyse_plan(con, kind, plan, cfg, data_end, result)
                rows.extend(r)
                state_rows.extend(s)
        result.found = len(rows)
        if rows or state_rows:
            result.stored = astore.write(con, rows, state_rows, utc_now(), cfg.detector_version)
    rows.sort(key=lambda r: (r["detector"] != "changepoint", -abs(r["relative_change"] or 0.0)))
    result.detections = rows if result.stored else []
    for r in rows:
        result.by_detector[r["detector"]] = result.by_detector.get(r["detector"], 0) + 1
    result.seconds = time.perf_counter() - started
    return result
