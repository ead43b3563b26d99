"""What the analyze stage looks at, and how: one :class:`SeriesPlan` per (metric, window).

Normalisation is decided per metric, from what is shared across a fleet:

* ``latency_p95`` (5m) is divided by the fleet median per window ("peer"): every node follows the
  same daily latency cycle, which a change-point test on raw values reads as level shifts on every
  node (measured on the demo: 50 of 50 nodes flagged raw, only node-17 relative).
* ``throughput_rps`` and ``cost`` (1h) are peer-relative too: traffic and therefore cost follow
  the daily demand cycle of the whole fleet; an entity's *share* only moves when it changes.
* ``error_rate`` (1h) stays raw: errors are rare and not diurnal, and the fleet median of a
  zero-heavy rate is often 0 (a ratio to it is undefined). Hourly windows, because a 5-minute
  error rate of a few dozen requests is mostly 0 or 1/n. Even hourly, a rate of 0.2% over a few
  hundred requests is mostly 0 with the odd single error, which the level-shift test reads as a
  shift (measured on the demo: 19 error-rate change points, 16 on healthy entities), so each one
  is re-tested on the error and request counts behind it (``trials="requests"``).
* ``availability`` (5m) stays raw for the anomaly detector: it is a compliance level (percent),
  its drop is the signal whatever the fleet does.

With fewer than three entities of a kind there are no peers and raw values are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Normalise = Literal["peer", "none"]

DETECTOR_VERSION = "changepoint-cusum-1/anomaly-likelihood-1"


@dataclass(frozen=True)
class SeriesPlan:
    """One rollup column analysed over one window length."""

    metric: str
    window: str
    normalise: Normalise
    changepoint: bool = True
    anomaly: bool = False
    # Smallest |relative change| of a level shift worth storing.
    min_relative_change: float = 0.10
    # Entity kinds this series is analysed for (None: every analysed kind).
    kinds: tuple[str, ...] | None = None
    # For a rate of rare events: the rollup column holding each window's trials (requests). A
    # change point is then kept only if the counts behind it confirm it (count_shift_test).
    trials: str | None = None


DEFAULT_PLANS: tuple[SeriesPlan, ...] = (
    SeriesPlan("latency_p95", "5m", "peer", changepoint=True, anomaly=True),
    SeriesPlan(
        "error_rate", "1h", "none", changepoint=True, min_relative_change=0.5, trials="requests"
    ),
    SeriesPlan("throughput_rps", "1h", "peer", changepoint=True, min_relative_change=0.2),
    SeriesPlan("cost", "1h", "peer", changepoint=True, min_relative_change=0.2),
    # Reported availability points (DAOs): for other kinds availability is 100 x the success
    # ratio of a few dozen requests per window, whose single errors read as anomalies.
    SeriesPlan("availability", "5m", "none", changepoint=False, anomaly=True, kinds=("dao",)),
)


@dataclass(frozen=True)
class AnalysisConfig:
    """Detector settings of the analyze stage (defaults documented in docs/detectors.md)."""

    plans: tuple[SeriesPlan, ...] = DEFAULT_PLANS
    environment: str = "production"
    # Deployments are judged by the canary (`ecosystem-perf canary`): two of them have no peers
    # to cancel the daily cycle, and a canary's traffic share is a step by design.
    kinds: tuple[str, ...] = ("node", "dao", "module", "operation", "user")
    # Change points: Otava's significance level; a change is stored once it has this many points
    # after it (the location is settled and a one-window blip cannot be confirmed).
    p_threshold: float = 0.001
    min_size: int = 5
    confirm_after: int = 10
    # At most this many points of a series are re-examined per run (~7 days of 5m windows):
    # bounds the cost of an entity without change points.
    max_window: int = 2016
    # Anomalies: each run scores only the points after the last analysed one; the detector is
    # warmed up on this many stored points before them (it needs min_history to score at all).
    anomaly_warmup: int = 300
    anomaly_threshold: float = 0.5
    anomaly_min_history: int = 150
    detector_version: str = DETECTOR_VERSION
    extra: dict[str, str] = field(default_factory=dict)


DEFAULT_CONFIG = AnalysisConfig()


class AnalysisSettings(BaseSettings):
    """Schedule of the analyze flow (``ECOPERF_ANALYZE_*``), kept with the analysis like the
    API keeps its own settings."""

    model_config = SettingsConfigDict(
        env_prefix="ECOPERF_ANALYZE_", env_file=".env", extra="ignore"
    )

    cron: str = Field(
        default="1-59/5 * * * *",
        description="Cron of the analyze flow: a minute after each 5-minute rollup, a minute "
        "before evaluate (ECOPERF_EVALUATE_CRON, default 2-59/5).",
    )
