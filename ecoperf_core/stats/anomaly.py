"""Streaming anomaly detection (spikes, dips, bursts, level changes) scored from the past only.

Why this design
---------------
Each new point is compared with what the recent past predicts, using robust statistics so that
the anomalies already in the history do not hide the next one:

* **two predictors**: the median of the last few points (tracks random-walk-like metrics such as
  CPU) and, when timestamps reveal a daily period with enough history, the median of the points
  around the same time on previous days (daily seasonality). Whichever predicted the recent past
  better (smaller median absolute residual) is used;
* **robust scale**: 1.4826·MAD of that predictor's past residuals, floored by a small fraction of
  the series' typical magnitude and spread, so flat lines and zero-heavy series do not turn every
  wiggle into an infinite z-score;
* a **level check** against the whole recent distribution (median/MAD of the window) catches slow
  drifts the local predictor would follow, and a **burst check** on the mean of the last few
  residuals catches short runs of moderately high values;
* the score is a monotone map of the largest robust z, ``z / (z + 4)`` (0.5 at 4 sigmas), and a
  **refractory** rule halves it while a stronger score was seen in the last ``refractory`` points,
  so one incident produces one alert rather than a stream of them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecoperf_core.stats._util import Jsonable

__all__ = ["AnomalyDetector", "AnomalyScore", "score_series"]

_K = 1.4826


@dataclass(frozen=True)
class AnomalyScore(Jsonable):
    """Score of one point: ``score`` in [0, 1], ``is_anomaly`` = score >= the detector threshold.

    ``expected`` is the prediction the point was compared with, ``z`` the robust z-score that
    produced the score and ``reason`` which check fired (local, seasonal, level, burst).
    """

    timestamp: Any | None
    value: float
    score: float
    is_anomaly: bool
    expected: float | None
    z: float
    reason: str


def _mad(a: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    return float(np.median(np.abs(a - np.median(a))))


class AnomalyDetector:
    """Online detector: call :meth:`update` once per point, in time order.

    ``window`` bounds the memory (and the cost per point); ``min_history`` points are needed
    before any score above 0; ``threshold`` sets ``is_anomaly``.
    """

    def __init__(
        self,
        *,
        window: int = 600,
        min_history: int = 30,
        local_points: int = 5,
        burst_points: int = 4,
        refractory: int = 60,
        threshold: float = 0.7,
        seasonal: bool = True,
    ) -> None:
        self.window = window
        self.min_history = min_history
        self.local_points = local_points
        self.burst_points = burst_points
        self.refractory = refractory
        self.threshold = threshold
        self.seasonal = seasonal
        self._values: deque[float] = deque(maxlen=window)
        self._res_local: deque[float] = deque(maxlen=window)
        self._res_season: deque[float] = deque(maxlen=window)
        self._recent_raw: deque[float] = deque(maxlen=max(1, refractory))
        self._last_ts: Any | None = None
        self._steps: deque[float] = deque(maxlen=50)
        self._season_hist: deque[float] = deque()
        self._period: int | None = None

    # -- helpers ---------------------------------------------------------------------------
    def _update_period(self, timestamp: Any | None) -> None:
        if timestamp is None or not self.seasonal:
            return
        t = np.datetime64(timestamp, "s").astype("int64")
        if self._last_ts is not None:
            step = float(t - self._last_ts)
            if step > 0:
                self._steps.append(step)
        self._last_ts = t
        if len(self._steps) >= 10:
            step = float(np.median(self._steps))
            p = round(86400.0 / step) if step > 0 else 0
            if 4 <= p <= 5000 and abs(p * step - 86400.0) < step:
                self._period = p
                maxlen = 3 * p + 10
                if self._season_hist.maxlen != maxlen:
                    self._season_hist = deque(self._season_hist, maxlen=maxlen)

    def _seasonal_prediction(self) -> float | None:
        p = self._period
        if p is None or len(self._season_hist) < p + 3:
            return None
        h = np.asarray(self._season_hist)
        n = h.size
        around = []
        for d in range(1, 4):
            i = n - d * p  # index of "same time, d days ago"
            if i - 2 < 0:
                break
            around.append(h[i - 2 : min(n, i + 3)])
        if not around:
            return None
        return float(np.median(np.concatenate(around)))

    # -- main ------------------------------------------------------------------------------
    def update(self, value: float, timestamp: Any | None = None) -> AnomalyScore:
        """Score ``value`` against the past, then add it to the history."""
        self._update_period(timestamp)
        x = float(value)
        if not math.isfinite(x):
            return AnomalyScore(timestamp, x, 0.0, False, None, 0.0, "missing")
        hist = np.asarray(self._values)
        season_pred = self._seasonal_prediction() if self.seasonal else None
        z, expected, reason = 0.0, None, "warmup"
        if hist.size >= self.min_history:
            level = float(np.median(hist))
            spread = _K * _mad(hist)
            iqr_floor = 0.05 * (float(np.max(hist)) - float(np.min(hist)))
            floor = max(1e-2 * abs(level), iqr_floor, 0.25 * spread, 1e-9)
            local_pred = float(np.median(hist[-self.local_points :]))
            res_l = np.asarray(self._res_local)
            err_l = _mad(res_l) if res_l.size else math.inf
            pred, res = local_pred, res_l
            reason = "local"
            if season_pred is not None and len(self._res_season) >= self.min_history:
                res_s = np.asarray(self._res_season)
                if float(np.median(np.abs(res_s))) < float(np.median(np.abs(res_l))):
                    pred, res, reason = season_pred, res_s, "seasonal"
            scale = max(_K * _mad(res) if res.size else 0.0, floor)
            _ = err_l
            z_local = abs(x - pred) / scale
            seasonal_used = reason == "seasonal"
            # Under seasonality the whole-window level is not a meaningful reference.
            z_level = 0.0 if seasonal_used else abs(x - level) / max(spread, floor, scale)
            k = self.burst_points
            if res.size >= k:
                recent = np.append(res[-(k - 1) :], x - pred)
                z_burst = abs(float(np.mean(recent))) / (scale / math.sqrt(k)) / 2.0
            else:
                z_burst = 0.0
            z = max(z_local, z_level, z_burst)
            reason = {z_local: reason, z_level: "level", z_burst: "burst"}[z]
            expected = pred
        raw = z / (z + 4.0) if z > 0 else 0.0
        recent_max = max(self._recent_raw) if self._recent_raw else 0.0
        score = raw if raw > recent_max else 0.5 * raw
        self._recent_raw.append(raw)
        # update histories (residuals of each predictor for this point)
        if hist.size:
            self._res_local.append(x - float(np.median(hist[-self.local_points :])))
        if season_pred is not None:
            self._res_season.append(x - season_pred)
        self._values.append(x)
        if self._period is not None or (self.seasonal and timestamp is not None):
            self._season_hist.append(x)
        return AnomalyScore(
            timestamp, x, float(score), bool(score >= self.threshold), expected, float(z), reason
        )


def score_series(
    values: Sequence[float] | np.ndarray,
    timestamps: Sequence[Any] | np.ndarray | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """Scores in [0, 1] for a whole series, each computed from earlier points only."""
    det = AnomalyDetector(**kwargs)
    vals = np.asarray(values, dtype=float)
    ts = [None] * vals.size if timestamps is None else list(timestamps)
    return np.array([det.update(v, t).score for v, t in zip(vals, ts, strict=True)])
