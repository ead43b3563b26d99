"""Fleet-wide detection on (entities x windows) matrices: pure numpy over :mod:`ecoperf_core.stats`.

No I/O here: :mod:`ecoperf_core.analysis.store` reads the matrices and the incremental state and
writes what these functions return.

Change points are incremental the way :class:`ecoperf_core.stats.changepoint.ChangePointDetector`
is: each entity's series is examined from its *segment start* (its last confirmed change point, or
its first point), a change is confirmed once ``confirm_after`` points follow it, and the segment
start moves to the last confirmed change, so a change is never found twice and appending points
never re-examines history before it. A vectorised CUSUM screen (the one the evaluation used inline)
skips rows that cannot hold a significant split, so a quiet fleet costs a few numpy passes.

Anomalies are scored point by point with :class:`ecoperf_core.stats.anomaly.AnomalyDetector`, from
past data only; a run scores only the points after the last analysed one, the detector warmed up
on the stored points before them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ecoperf_core.analysis.config import AnalysisConfig, SeriesPlan
from ecoperf_core.evaluation.series import peer_relative, screen_rows
from ecoperf_core.stats.anomaly import AnomalyDetector
from ecoperf_core.stats.changepoint import count_shift_test, detect_change_points


@dataclass
class Detection:
    """One detected change point or anomaly, in the ``detections`` table's terms."""

    entity_id: str
    detector: str
    detected_at: datetime
    before_level: float | None
    after_level: float | None
    relative_change: float | None
    p_value: float | None
    score: float | None
    evidence: dict[str, Any] = field(default_factory=dict)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def normalise(
    matrix: np.ndarray, plan: SeriesPlan, medians: np.ndarray | None = None
) -> np.ndarray:
    """The series the detectors see: peer-relative or raw (see :mod:`analysis.config`).

    ``medians``: the fleet's median per column when ``matrix`` holds only some of the peers
    (a shard); by default the peers are the matrix's rows."""
    if plan.normalise == "peer":
        return peer_relative(matrix, medians)
    return np.where(np.isfinite(matrix), matrix, np.nan)


def change_points(
    ids: Sequence[str],
    raw: np.ndarray,
    series: np.ndarray,
    timestamps: Sequence[datetime],
    start_col: np.ndarray,
    plan: SeriesPlan,
    cfg: AnalysisConfig,
    trials: np.ndarray | None = None,
) -> tuple[list[Detection], dict[str, datetime]]:
    """Confirmed level shifts per row, each row examined from ``start_col[row]`` on.

    Returns the detections and, for rows that got one, the new segment start (the last confirmed
    change's time). ``raw`` gives the before/after levels in the metric's own units as evidence.
    With ``trials`` (same shape as ``raw``: requests per window), ``raw`` is a rate and a change
    is kept only when :func:`count_shift_test` on the counts confirms it at ``p_threshold``.
    """
    m = np.array(series, dtype=np.float64, copy=True)
    cols = np.arange(m.shape[1])[None, :]
    m[cols < start_col[:, None]] = np.nan
    candidates = np.flatnonzero(screen_rows(m, cfg.p_threshold))
    found: list[Detection] = []
    starts: dict[str, datetime] = {}
    for i in candidates:
        row = m[i]
        cps = detect_change_points(
            row,
            p_threshold=cfg.p_threshold,
            min_relative_change=plan.min_relative_change,
            min_size=cfg.min_size,
        )
        confirmed = [cp for cp in cps if cp.n_after >= cfg.confirm_after]
        if not confirmed:
            continue
        finite_cols = np.flatnonzero(np.isfinite(row))
        bounds = [int(finite_cols[0]), *[cp.index for cp in cps], int(finite_cols[-1]) + 1]
        counts: dict[int, dict[str, Any]] = {}
        if trials is not None:
            kept = []
            for cp in confirmed:
                j = cps.index(cp)
                lo, hi = bounds[j], bounds[j + 2]
                test = count_shift_test(
                    raw[i, lo:hi],
                    trials[i, lo:hi],
                    cp.index - lo,
                    candidates=max(1, cp.n_before + cp.n_after - 2 * cfg.min_size + 1),
                )
                if test.trials_before > 0 and test.trials_after > 0:
                    if test.p_value > cfg.p_threshold:
                        continue  # the counts do not support it: one or two stray errors
                    counts[cp.index] = test.to_dict()
                kept.append(cp)
            confirmed = kept
            if not confirmed:
                continue
        for cp in confirmed:
            j = cps.index(cp)
            lo, hi = bounds[j], bounds[j + 2]
            raw_before = np.nanmean(raw[i, lo : cp.index]) if cp.index > lo else math.nan
            raw_after = np.nanmean(raw[i, cp.index : hi]) if hi > cp.index else math.nan
            found.append(
                Detection(
                    entity_id=str(ids[i]),
                    detector="changepoint",
                    detected_at=timestamps[cp.index],
                    before_level=_finite(cp.before),
                    after_level=_finite(cp.after),
                    relative_change=_finite(cp.relative_change),
                    p_value=max(float(cp.p_value), counts.get(cp.index, {}).get("p_value", 0.0)),
                    score=_finite(cp.statistic),
                    evidence={
                        "normalisation": plan.normalise,
                        "levels": "relative to the fleet median per window"
                        if plan.normalise == "peer"
                        else "metric units",
                        "rawBefore": _finite(float(raw_before)),
                        "rawAfter": _finite(float(raw_after)),
                        "sigma": _finite(cp.sigma),
                        "nBefore": cp.n_before,
                        "nAfter": cp.n_after,
                        "direction": cp.direction,
                        "countTest": counts.get(cp.index),
                        "seriesFrom": timestamps[lo].isoformat(),
                        "seriesTo": timestamps[hi - 1].isoformat(),
                        "parameters": {
                            "pThreshold": cfg.p_threshold,
                            "minRelativeChange": plan.min_relative_change,
                            "minSize": cfg.min_size,
                            "confirmAfter": cfg.confirm_after,
                        },
                    },
                )
            )
        starts[str(ids[i])] = timestamps[confirmed[-1].index]
    return found, starts


def anomalies(
    ids: Sequence[str],
    series: np.ndarray,
    timestamps: Sequence[datetime],
    first_new_col: np.ndarray,
    plan: SeriesPlan,
    cfg: AnalysisConfig,
) -> list[Detection]:
    """Anomalous points among the new columns of each row (``col >= first_new_col[row]``).

    Each row's detector is warmed up on up to ``cfg.anomaly_warmup`` finite points before its
    first new column; only new points are reported. Rows with no new column cost nothing.
    """
    found: list[Detection] = []
    n_cols = series.shape[1]
    ts = list(timestamps)
    for i in range(series.shape[0]):
        first = int(first_new_col[i])
        if first >= n_cols:
            continue
        row = series[i]
        finite = np.flatnonzero(np.isfinite(row))
        past = finite[finite < first][-cfg.anomaly_warmup :]
        new = finite[finite >= first]
        if new.size == 0:
            continue
        det = AnomalyDetector(threshold=cfg.anomaly_threshold, min_history=cfg.anomaly_min_history)
        values = row.tolist()
        for j in past.tolist():
            det.update(values[j], ts[j])
        for j in new.tolist():
            s = det.update(values[j], ts[j])
            if not s.is_anomaly:
                continue
            found.append(
                Detection(
                    entity_id=str(ids[i]),
                    detector="anomaly",
                    detected_at=ts[j],
                    before_level=None if s.expected is None else float(s.expected),
                    after_level=float(s.value),
                    relative_change=None
                    if not s.expected
                    else _finite((s.value - s.expected) / abs(s.expected)),
                    p_value=None,
                    score=float(s.score),
                    evidence={
                        "normalisation": plan.normalise,
                        "reason": s.reason,
                        "z": _finite(s.z),
                        "expected": s.expected,
                        "warmupPoints": int(past.size),
                        "parameters": {
                            "threshold": cfg.anomaly_threshold,
                            "minHistory": cfg.anomaly_min_history,
                        },
                    },
                )
            )
    return found
