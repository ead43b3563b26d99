"""How much data each engine's inputs are read from: windows, minimum counts, trend thresholds.

These are measurement choices (what "current p95" means), not decision thresholds: the thresholds
live in the policy file. Every window ends at the evaluation's *as-of* time, which is the latest data
time in the warehouse (not the wall clock), so an evaluation of yesterday's data gives yesterday's
answer and a replay gives the same answer twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class EvaluationWindows:
    """Windows and minimums of the warehouse readers (defaults documented in docs/evaluation.md)."""

    # QNET and Qerberos "current" metrics: the last hour of 5m rollups, extended back in 5-minute
    # steps (up to ``current_max``) until at least ``min_requests`` requests are covered, so a
    # quiet node's error rate is not 0 or 1/n by chance (Envoy needs 100 requests per host for
    # its success-rate outlier check; percentiles need more).
    current: timedelta = timedelta(hours=1)
    current_max: timedelta = timedelta(hours=6)
    min_requests: int = 500
    # A 5-minute window's p99 from a handful of requests is close to their maximum (biased low):
    # entities averaging fewer requests per window than this get exact percentiles from raw
    # requests over the same window (cheap, precisely because they are sparse).
    rollup_min_window_requests: int = 50
    # Change points (regressionScore, Qerberos regressions): stored change points of 5m p95
    # (the analyze flow's detections) detected within this window before the as-of time.
    regression_lookback: timedelta = timedelta(hours=24)
    regression_min_relative_change: float = 0.10  # a step of +10% or more counts
    regression_p_threshold: float = 0.001
    # Qerberos anomaly cluster: stored anomalies detected within this window.
    anomaly_lookback: timedelta = timedelta(hours=24)
    # Anomalies this soon after a change point of the same series are that change (not counted).
    anomaly_changepoint_grace: timedelta = timedelta(hours=2)
    # Qerberos latency trend: hourly p95 over this window, relative to the entity's peers.
    trend_lookback: timedelta = timedelta(hours=24)
    trend_min_relative_change: float = 0.25  # fitted change over the window: increasing/decreasing
    # Daily cost history (Qerberos costMetrics, go-live cost forecast): whole 24 h periods.
    cost_days: int = 30
    # DAO: burn rates over a long and a short window (SRE workbook page tier: 1 h and 5 m),
    # availability compliance over the SLO period, throughput over a whole daily cycle.
    dao_burn_long: timedelta = timedelta(hours=1)
    dao_burn_short: timedelta = timedelta(minutes=5)
    dao_latency: timedelta = timedelta(hours=1)
    dao_availability: timedelta = timedelta(days=30)
    dao_throughput: timedelta = timedelta(hours=24)
    # Go-live: error budget over 7 days, cache over 24 h, capacity fit over 7 days of hours.
    golive_errors: timedelta = timedelta(days=7)
    golive_cache: timedelta = timedelta(hours=24)
    golive_capacity: timedelta = timedelta(days=7)
    golive_min_capacity_hours: int = 24
    golive_min_capacity_r2: float = 0.5
    # A per-minute p99 from a handful of requests is just their maximum: minutes are pooled into
    # the shortest bucket (1, 2, 3, 5, 10, 15 or 30 min) holding this many requests on average.
    golive_min_bucket_requests: int = 100
    # Qflow: latency estimate and burn over the last hour (short burn window 5 m), SLO compliance
    # over the SLO period, cache over 24 h.
    qflow_latency: timedelta = timedelta(hours=1)
    qflow_burn_short: timedelta = timedelta(minutes=5)
    slo_period: timedelta = timedelta(days=30)


DEFAULT_WINDOWS = EvaluationWindows()
