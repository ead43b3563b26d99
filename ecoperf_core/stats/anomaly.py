"""Streaming anomaly detection (spikes, dips, bursts, level and noise changes) from the past only.

Why this design
---------------
Every point is turned into a few *features* whose size says how surprising the point is, each
feature is calibrated against its own recent history (so no per-series scale or threshold is
needed), and the detector reports the largest calibrated surprise. All state is O(1) per point
apart from sorted windows (``bisect``), so a series is scored at ~15 µs per point in pure Python.

Features (each from past data and the point itself):

* ``local``: ``|x - x_prev|`` (step size; spikes, dips, jumps);
* ``deviation``: ``|x - median(last dev_window points)|`` (bursts, short level shifts);
* ``seasonal``: distance to the nearest of the points around the same time one day earlier
  (``|x - x[t-P+k]|``, ``|k| <= season_slack``), used only when timestamps give a daily period
  and the series is *actually* daily (autocorrelation at one day clearly above that at half a
  day), so that non-seasonal series do not echo yesterday's incident;
* ``level``: the rank of ``x`` among the last ``rank_window`` values, folded to ``|2r - 1|``
  (new levels, relative to the long-run distribution).

Scores:

* **anomaly likelihood** (Numenta's post-processing of HTM's raw score): each feature gives a raw
  score in [0, 1] (half its empirical rank among the last ``rank_window`` values of that feature,
  half its size relative to ``raw_scale`` times their 90th percentile). The mean of the last
  ``short_window`` raw scores is compared with the mean and variance of that mean over the last
  ``long_window`` points (floors 0.03 and 0.0003 as in NuPIC); the Gaussian tail probability
  ``q`` becomes ``-log10(2q)/10`` (0.5 at q = 5e-6). A sustained change (noise, level, shape)
  accumulates in the short mean: this is what detects regime changes early;
* **spatial** (as in Numenta's detector): a value beyond the all-time min/max by more than
  ``spatial_tolerance`` of the range scores ``min(1, 0.5 + excess/range)``;
* **record**: a step or deviation more than ``1 + record_margin`` times the largest one in the
  last ``rank_window`` points (new record surprise) scores ``0.5 + 0.5·excess``, up to 1.

The output is the maximum. Two rules keep one incident from producing a stream of alerts (NAB,
like an on-call engineer, counts the first alert of an incident and charges the rest as false
positives): a likelihood alert immediately following another is demoted (NuPIC's red-zone filter),
and for ``rest_period`` points after an alert (score >= ``threshold``) likelihood scores are
capped at ``rest_cap``; spatial and record scores are fresh extremes and are never capped.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecoperf_core.stats._util import Jsonable

__all__ = ["AnomalyDetector", "AnomalyScore", "score_series"]

_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class AnomalyScore(Jsonable):
    """Score of one point: ``score`` in [0, 1], ``is_anomaly`` = score >= the detector threshold.

    ``expected`` is the recent median (or the seasonal prediction when that fired), ``z`` the
    point's deviation from the recent median in robust standard deviations, and ``reason`` the
    feature that produced the score (spatial, record, local, deviation, seasonal, level; or
    warmup, missing, suppressed).
    """

    timestamp: Any | None
    value: float
    score: float
    is_anomaly: bool
    expected: float | None
    z: float
    reason: str


class _SortedWindow:
    """The last ``size`` values, kept sorted: ranks and quantiles in O(log n) + memmove."""

    __slots__ = ("buf", "size", "srt")

    def __init__(self, size: int) -> None:
        self.size = size
        self.buf: deque[float] = deque()
        self.srt: list[float] = []

    def __len__(self) -> int:
        return len(self.srt)

    def rank(self, v: float) -> float:
        """Fraction of stored values strictly below ``v`` (0.5 when empty)."""
        m = len(self.srt)
        return bisect_left(self.srt, v) / m if m else 0.5

    def rank_mid(self, v: float) -> float:
        """Mid-rank of ``v`` (ties count half)."""
        s = self.srt
        m = len(s)
        if not m:
            return 0.5
        lo = bisect_left(s, v)
        return (lo + 0.5 * (bisect_right(s, v, lo) - lo)) / m

    def quantile(self, q: float) -> float:
        s = self.srt
        return s[int(q * (len(s) - 1))]

    def add(self, v: float) -> None:
        self.buf.append(v)
        insort(self.srt, v)
        if len(self.buf) > self.size:
            old = self.buf.popleft()
            del self.srt[bisect_left(self.srt, old)]


class _Likelihood:
    """Numenta-style anomaly likelihood of a stream of raw scores in [0, 1]."""

    __slots__ = ("lbuf", "long", "lsq", "lsum", "min_history", "sbuf", "short", "ssum", "stab")

    def __init__(self, short: int, long: int, min_history: int, stab: bool = False) -> None:
        self.stab = stab
        self.short = short
        self.long = long
        self.min_history = min_history
        self.sbuf: deque[float] = deque()
        self.ssum = 0.0
        self.lbuf: deque[float] = deque()
        self.lsum = 0.0
        self.lsq = 0.0

    def update(self, raw: float) -> float:
        self.sbuf.append(raw)
        self.ssum += raw
        if len(self.sbuf) > self.short:
            self.ssum -= self.sbuf.popleft()
        avg = self.ssum / len(self.sbuf)
        if self.stab:
            avg = math.asin(math.sqrt(min(1.0, max(avg, 0.0))))
        n = len(self.lbuf)
        score = 0.0
        if n >= self.min_history:
            mean = self.lsum / n
            var = max(self.lsq / n - mean * mean, 0.0003)
            mean = max(mean, 0.1741 if self.stab else 0.03)
            z = (avg - mean) / math.sqrt(var)
            if z > 0.0:
                tail = 0.5 * math.erfc(z / _SQRT2)
                score = min(1.0, -math.log10(2.0 * tail + 1e-10) / 10.0)
        self.lbuf.append(avg)
        self.lsum += avg
        self.lsq += avg * avg
        if n + 1 > self.long:
            old = self.lbuf.popleft()
            self.lsum -= old
            self.lsq -= old * old
        return score


def _daily_period(steps: list[float]) -> int | None:
    step = sorted(steps)[len(steps) // 2]
    if step <= 0:
        return None
    p = round(86400.0 / step)
    if 4 <= p <= 5000 and abs(p * step - 86400.0) < step:
        return int(p)
    return None


class AnomalyDetector:
    """Online detector: call :meth:`update` once per point, in time order.

    Memory and cost per point are bounded by ``rank_window`` / ``long_window`` (and one day of
    values when seasonal). ``min_history`` points are needed before any score above 0;
    ``threshold`` sets ``is_anomaly`` and starts the ``rest_period``.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        min_history: int = 150,
        rank_window: int = 1000,
        long_window: int = 2000,
        short_window: int = 10,
        dev_window: int = 50,
        raw_quantile: float = 0.9,
        raw_scale: float = 2.0,
        spatial_tolerance: float = 0.05,
        spatial_base: float = 0.4,
        spatial_warmup: int = 1000,
        record_margin: float = 1.0,
        rest_period: int = 100,
        rest_cap: float = 0.3,
        seasonal: bool = True,
        season_slack: int = 3,
        stabilise: bool = True,
    ) -> None:
        self.threshold = threshold
        self.min_history = min_history
        self.raw_quantile = raw_quantile
        self.raw_scale = raw_scale
        self.spatial_tolerance = spatial_tolerance
        self.spatial_base = spatial_base
        self.spatial_warmup = spatial_warmup
        self.record_margin = record_margin
        self.rest_period = rest_period
        self.rest_cap = rest_cap
        self.seasonal = seasonal
        self.season_slack = season_slack
        self.dev_window = dev_window
        self._n = 0
        self._prev: float | None = None
        self._min = math.inf
        self._max = -math.inf
        self._recent = _SortedWindow(dev_window)
        self._feat = {
            k: _SortedWindow(rank_window) for k in ("local", "deviation", "seasonal", "level")
        }
        self._like = {
            k: _Likelihood(short_window, long_window, min_history, stabilise)
            for k in ("local", "deviation", "seasonal", "level")
        }
        # seasonality
        self._steps: list[float] = []
        self._last_t: int | None = None
        self._period: int | None = None
        self._hist: deque[float] = deque()
        self._x0 = 0.0
        self._sx = 0.0
        self._sxx = 0.0
        self._sp = 0.0
        self._sh = 0.0
        self._np = 0
        self._nh = 0
        # alert bookkeeping
        self._prev_like_red = False
        self._since_alert = 1 << 30

    # -- helpers ---------------------------------------------------------------------------
    def _observe_time(self, timestamp: Any | None) -> None:
        if timestamp is None or not self.seasonal or self._period is not None:
            return
        t = int(np.datetime64(timestamp, "s").astype("int64"))
        if self._last_t is not None and t > self._last_t:
            self._steps.append(float(t - self._last_t))
            if len(self._steps) >= 10:
                p = _daily_period(self._steps)
                self._period = p
                if p is None:
                    self.seasonal = False
                else:
                    self._hist = deque(self._hist, maxlen=p + self.season_slack + 1)
        self._last_t = t

    def _seasonal_ok(self) -> bool:
        """Daily pattern present: autocorrelation at one day > 0.4 and > that at half a day + 0.3."""
        if self._period is None or self._np <= self._period:
            return False
        n = self._n
        m = self._sx / n
        var = self._sxx / n - m * m
        if var <= 1e-12 * max(1.0, m * m):
            return False
        a_day = (self._sp / self._np - m * m) / var
        a_half = (self._sh / self._nh - m * m) / var
        return a_day > 0.4 and a_day - a_half > 0.3

    def _raw(self, w: _SortedWindow, r: float) -> float:
        """Raw surprise in [0, 1]: half rank, half size relative to a high quantile."""
        if not len(w):
            return 0.0
        q = w.quantile(self.raw_quantile)
        if q <= 0.0:
            q = max(w.srt[-1], 1e-300)
        return 0.5 * (min(1.0, r / (self.raw_scale * q)) + w.rank(r))

    def _record(self, w: _SortedWindow, r: float) -> float:
        if len(w) < self.min_history:
            return 0.0
        top = w.srt[-1]
        if top <= 0.0:
            return 0.0
        e = r / top - 1.0 - self.record_margin
        return min(1.0, 0.5 + 0.5 * e) if e > 0.0 else 0.0

    # -- main ------------------------------------------------------------------------------
    def update(self, value: float, timestamp: Any | None = None) -> AnomalyScore:
        """Score ``value`` against the past, then add it to the history."""
        self._observe_time(timestamp)
        x = float(value)
        if not math.isfinite(x):
            return AnomalyScore(timestamp, x, 0.0, False, None, 0.0, "missing")
        feat, like = self._feat, self._like
        warm = self._n >= self.min_history
        best, reason = 0.0, "warmup"
        hard = 0.0  # spatial / record: never suppressed
        hard_reason = ""
        expected: float | None = None
        z = 0.0
        # spatial: beyond the all-time range
        if warm and self._max > self._min:
            rng = self._max - self._min
            e = max(x - self._max, self._min - x) / rng
            tol = self.spatial_tolerance * (1.0 + self.spatial_warmup / self._n)
            if e > tol:
                hard, hard_reason = (
                    min(1.0, self.spatial_base + e - tol + self.spatial_tolerance),
                    "spatial",
                )
        # local step
        if self._prev is not None:
            r = abs(x - self._prev)
            w = feat["local"]
            rec = self._record(w, r)
            if rec > hard:
                hard, hard_reason = rec, "record"
            s = like["local"].update(self._raw(w, r))
            if s > best:
                best, reason = s, "local"
            w.add(r)
        # deviation from the recent median
        rw = self._recent
        if len(rw) >= min(self.dev_window, 20):
            med = rw.srt[len(rw) // 2]
            expected = med
            r = abs(x - med)
            w = feat["deviation"]
            if len(w):
                scale = 1.4826 * w.quantile(0.5)  # median |deviation| -> sigma
                z = r / scale if scale > 0 else (math.inf if r > 0 else 0.0)
            rec = self._record(w, r)
            if rec > hard:
                hard, hard_reason = rec, "record"
            s = like["deviation"].update(self._raw(w, r))
            if s > best:
                best, reason = s, "deviation"
            w.add(r)
        rw.add(x)
        # seasonal (daily) residual
        h = self._hist
        p = self._period
        if p is not None and len(h) == h.maxlen and self._seasonal_ok():
            k = self.season_slack
            r = min(abs(x - h[j]) for j in range(2 * k + 1))
            w = feat["seasonal"]
            rec = self._record(w, r)
            if rec > hard:
                hard, hard_reason = rec, "record"
            s = like["seasonal"].update(self._raw(w, r))
            if s > best:
                best, reason, expected = s, "seasonal", h[k]
            w.add(r)
        # level: rank of x in the long-run distribution
        w = feat["level"]
        s = like["level"].update(abs(2.0 * w.rank_mid(x) - 1.0) if len(w) else 0.0)
        if s > best:
            best, reason = s, "level"
        w.add(x)
        if not warm:
            best = 0.0
        # NuPIC red-zone filter: only the first of consecutive likelihood alerts stays red
        red = best >= self.threshold
        if red and self._prev_like_red:
            best, reason = min(best, self.rest_cap), "suppressed"
        self._prev_like_red = red
        if self._since_alert < self.rest_period and best > self.rest_cap:
            best, reason = self.rest_cap, "suppressed"
        if hard > best:
            best, reason = hard, hard_reason
        if best >= self.threshold:
            self._since_alert = 0
        else:
            self._since_alert += 1
        # update state
        self._update_season_stats(x)
        self._prev = x
        self._n += 1
        self._min = min(self._min, x)
        self._max = max(self._max, x)
        return AnomalyScore(
            timestamp, x, float(best), bool(best >= self.threshold), expected, float(z), reason
        )

    def _update_season_stats(self, x: float) -> None:
        if not self.seasonal or self._last_t is None:
            return
        if self._n == 0:
            self._x0 = x
        y = x - self._x0
        self._sx += y
        self._sxx += y * y
        h = self._hist
        p = self._period
        if p is not None:
            if len(h) >= p:
                self._sp += y * (h[-p] - self._x0)
                self._np += 1
            half = p // 2
            if len(h) >= half:
                self._sh += y * (h[-half] - self._x0)
                self._nh += 1
        h.append(x)


def score_series(
    values: Sequence[float] | np.ndarray,
    timestamps: Sequence[Any] | np.ndarray | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """Scores in [0, 1] for a whole series, each computed from earlier points only."""
    det = AnomalyDetector(**kwargs)
    vals = np.asarray(values, dtype=float).tolist()
    if timestamps is None:
        return np.array([det.update(v).score for v in vals], dtype=float)
    ts = list(timestamps)
    return np.array([det.update(v, t).score for v, t in zip(vals, ts, strict=True)], dtype=float)
