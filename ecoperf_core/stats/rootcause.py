"""Root-cause ranking: which other series moved before an incident, and how strongly.

Pure: aligned series in (the incident's series and every candidate, on one time grid, NaN where
missing), a ranking out. For each candidate:

1. **When it moved**: its change points (:func:`detect_change_points`, a lenient level so that a
   cause's weaker step still counts); the one nearest before the incident (up to ``tolerance``
   steps after it, for causes and effects that land in the same window) gives the *lead*: how
   many steps before the incident the candidate changed.
2. **How strongly it moved with the incident**: the lead-lag cross-correlation of the candidate
   shifted by 0..``max_lag`` steps against the incident's series (Pearson over the overlapping
   finite points); the best lag and its correlation. A cause that steps 30 minutes before the
   effect correlates at a lag of 30 minutes.
3. **Score** = |best correlation| x (1 if it has a change point near the incident, else
   ``no_change_weight``) x timing, where timing is 1 + ``earliness_bonus`` x lead/max_lead for a
   candidate that moved before (or with) the incident and ``after_weight`` for one that moved
   only after it (an effect, not a cause).

Ties (equal scores) go to the earlier mover. Series are expected normalised by the caller (e.g.
divided by the fleet median per window) so that a daily cycle shared by every entity does not
read as a correlation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecoperf_core.stats._util import Jsonable
from ecoperf_core.stats.changepoint import ChangePoint, detect_change_points

__all__ = ["RootCauseParams", "Suspect", "lagged_correlation", "rank_suspects"]


@dataclass(frozen=True)
class RootCauseParams(Jsonable):
    max_lag: int = 12  # steps the cause may lead the incident by (12 x 5m = 1 h)
    tolerance: int = 2  # a change this many steps after the incident still counts as "with it"
    p_threshold: float = 0.01
    min_relative_change: float = 0.05
    min_size: int = 4
    min_overlap: int = 12  # fewest overlapping points for a correlation
    no_change_weight: float = 0.5
    after_weight: float = 0.5
    earliness_bonus: float = 0.25


@dataclass(frozen=True)
class Suspect(Jsonable):
    key: str
    score: float
    correlation: float
    lag_steps: int
    lead_steps: int | None  # steps between its change point and the incident (>0: before)
    change_index: int | None
    relative_change: float | None
    p_value: float | None


def lagged_correlation(
    target: np.ndarray, candidate: np.ndarray, max_lag: int, min_overlap: int
) -> tuple[float, int]:
    """Best Pearson correlation of ``candidate`` shifted by 0..max_lag steps (candidate leads)
    against ``target``; returns (correlation, lag). NaN-aware; (0, 0) without enough overlap."""
    best, best_lag = 0.0, 0
    n = target.size
    for lag in range(0, min(max_lag, n - 1) + 1):
        t = target[lag:]
        c = candidate[: n - lag]
        ok = np.isfinite(t) & np.isfinite(c)
        if ok.sum() < min_overlap:
            continue
        ts, cs = t[ok], c[ok]
        st, sc = ts.std(), cs.std()
        if st <= 0 or sc <= 0:
            continue
        r = float(np.mean((ts - ts.mean()) * (cs - cs.mean())) / (st * sc))
        if abs(r) > abs(best) + 1e-12:
            best, best_lag = r, lag
    return best, best_lag


def _nearest_change(points: list[ChangePoint], incident: int, tolerance: int) -> ChangePoint | None:
    eligible = [p for p in points if p.index <= incident + tolerance]
    if not eligible:
        return None
    return min(eligible, key=lambda p: (abs(incident - p.index), p.index))


def rank_suspects(
    target: np.ndarray,
    candidates: Mapping[str, np.ndarray],
    incident_index: int,
    params: RootCauseParams = RootCauseParams(),
) -> list[Suspect]:
    """Rank ``candidates`` (key → series aligned with ``target``) as causes of the incident at
    ``incident_index`` of ``target``; best first."""
    target = np.asarray(target, dtype=float)
    if not 0 <= incident_index < target.size:
        raise ValueError(
            f"incident_index {incident_index} outside the series (0..{target.size - 1})"
        )
    out: list[Suspect] = []
    for key, raw in candidates.items():
        series = np.asarray(raw, dtype=float)
        if series.shape != target.shape:
            raise ValueError(f"{key}: series length {series.size} != target length {target.size}")
        if np.isfinite(series).sum() < params.min_overlap:
            continue
        r, lag = lagged_correlation(target, series, params.max_lag, params.min_overlap)
        points = detect_change_points(
            series,
            p_threshold=params.p_threshold,
            min_relative_change=params.min_relative_change,
            min_size=params.min_size,
        )
        change = _nearest_change(points, incident_index, params.tolerance)
        lead = None if change is None else incident_index - change.index
        if change is None:
            # A later change only: it followed the incident.
            timing = params.after_weight if points else 1.0
            moved = params.no_change_weight
        else:
            assert lead is not None
            moved = 1.0
            timing = 1.0 + params.earliness_bonus * min(max(lead, 0), params.max_lag) / max(
                params.max_lag, 1
            )
            if lead > params.max_lag:  # moved long before: weaker evidence of a link
                timing = 1.0
        score = abs(r) * moved * timing
        out.append(
            Suspect(
                key=key,
                score=round(score, 6),
                correlation=round(r, 6),
                lag_steps=lag,
                lead_steps=lead,
                change_index=None if change is None else change.index,
                relative_change=None if change is None else _finite(change.relative_change),
                p_value=None if change is None else _finite(change.p_value),
            )
        )
    out.sort(key=lambda s: (-s.score, -(s.lead_steps if s.lead_steps is not None else -1e9), s.key))
    return out


def _finite(value: Any) -> float | None:
    v = float(value)
    return round(v, 6) if math.isfinite(v) else None
