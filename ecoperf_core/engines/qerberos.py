"""Qerberos: performance-based risk assessment of an entity (user, tenant, service).

riskScore (0-100) is a sum of capped points, one term per pattern (``policy.qerberos``)::

    regressions  min(regression_points_max 30, regression_points_each 10 x count)
    anomalies    min(anomaly_points_max 20, anomaly_points_each 5 x count)
    capacity     capacity_points_max 15 x clamp((u - 0.7) / (1 - 0.7))
    latency      latency_points_max 10 x clamp(p99 / p99_target - 1) + 5 if the trend is increasing
    errors       error_points_max 10 x clamp(errorRate / (2 x error_target))
    cost         cost_points_max 10 x clamp(costIncrease)              if costIncrease ≥ 0.3
                 + cost_correlation_points 10                          if performance also degrades
    riskScore = min(100, total), rounded to 0.1

riskLevel: ≥ 80 critical, ≥ 50 high, ≥ 25 moderate, else low.

costIncrease = current / baseline - 1, where baseline is the median of the older half of the cost
history (robust to a single spike). "Performance degrades" means any of: a regression, an
increasing latency trend, p99 above target, error rate above target, an anomaly cluster.

Signals: performance_regression (count; severity from count: 1 medium, 2 high, 3+ critical, or the
given severity if higher), anomaly_cluster (count ≥ 3), capacity_stress (utilization ≥ 0.85),
latency_degradation (p99 above target), elevated_error_rate (above target), cost_correlation
(costIncrease, suspicion). Correlations: cost_performance_correlation when a cost rise coincides with
degrading performance (suspicion ``resource_abuse_or_inefficiency``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ecoperf_core.engines.base import Decision, clamp01, jsonable, require_finite, require_rate
from ecoperf_core.models import Correlation, RiskAssessmentRequest, RiskSignal, RiskSignalItem
from ecoperf_core.policy import DEFAULT_POLICY, Policy

ENGINE = "qerberos"
SEVERITIES = ("low", "medium", "high", "critical")
Severity = Literal["low", "medium", "high", "critical"]


@dataclass(frozen=True)
class RiskInputs:
    entity_id: str
    latency_p99_ms: float
    latency_trend: Literal["increasing", "stable", "decreasing"] = "stable"
    error_rate: float = 0.0
    cost_current: float | None = None
    cost_historical: Sequence[float] = ()  # oldest first
    regression_count: int = 0
    regression_severity: Severity | None = None
    anomaly_count: int = 0
    utilization: float | None = None

    @classmethod
    def from_request(cls, request: RiskAssessmentRequest) -> RiskInputs:
        d = request.performance_data
        cost = d.cost_metrics
        return cls(
            entity_id=request.entity_id,
            latency_p99_ms=d.latency.p99,
            latency_trend=d.latency.trend,
            error_rate=d.error_rate,
            cost_current=cost.current if cost else None,
            cost_historical=tuple(cost.historical) if cost else (),
            regression_count=d.regression_count,
            regression_severity=d.regression_severity,
            anomaly_count=d.anomaly_count,
            utilization=d.utilization,
        )


def cost_increase(current: float | None, historical: Sequence[float]) -> float | None:
    """current / median(older half of history) - 1; None without history or a zero baseline."""
    if current is None or not historical:
        return None
    values = list(historical)
    older = values[: max(1, len(values) // 2)]
    baseline = float(np.median(older))
    if baseline <= 0:
        return None
    return current / baseline - 1.0


def assess_risk(entity: RiskInputs, policy: Policy = DEFAULT_POLICY) -> Decision:
    """Risk of one entity; the output is the spec's ``riskSignal``."""
    require_finite("latency.p99", entity.latency_p99_ms)
    require_rate("errorRate", entity.error_rate)
    require_finite("costMetrics.current", entity.cost_current)
    for i, value in enumerate(entity.cost_historical):
        require_finite(f"costMetrics.historical.{i}", value)
    require_rate("utilization", entity.utilization)
    if entity.regression_count < 0 or entity.anomaly_count < 0:
        raise ValueError("regression_count and anomaly_count: must be ≥ 0")
    q = policy.qerberos
    signals: list[RiskSignalItem] = []
    correlations: list[Correlation] = []
    points: dict[str, float] = {}

    # regressions
    n_reg = entity.regression_count
    points["regression"] = min(q.regression_points_max, q.regression_points_each * n_reg)
    if n_reg:
        by_count = (
            3
            if n_reg >= q.regression_critical_count
            else 2
            if n_reg >= q.regression_high_count
            else 1
        )
        given = SEVERITIES.index(entity.regression_severity) if entity.regression_severity else 0
        signals.append(
            RiskSignalItem(
                type="performance_regression",
                severity=SEVERITIES[max(by_count, given)],  # type: ignore[arg-type]
                count=n_reg,
                impact="service_degradation",
            )
        )

    # anomalies
    n_anom = entity.anomaly_count
    points["anomaly"] = min(q.anomaly_points_max, q.anomaly_points_each * n_anom)
    cluster = n_anom >= q.anomaly_cluster_min
    if cluster:
        signals.append(
            RiskSignalItem(
                type="anomaly_cluster",
                severity="high" if n_anom >= 2 * q.anomaly_cluster_min else "medium",
                count=n_anom,
                impact="suspicious_activity",
            )
        )

    # capacity
    u = entity.utilization
    points["capacity"] = (
        0.0
        if u is None
        else q.capacity_points_max
        * clamp01((u - q.capacity_stress_from) / (1.0 - q.capacity_stress_from))
    )
    if u is not None and u >= q.capacity_stress_signal:
        signals.append(
            RiskSignalItem(
                type="capacity_stress",
                severity="high" if u >= 0.95 else "medium",
                value=u,
                impact="resource_exhaustion",
            )
        )

    # latency
    excess = entity.latency_p99_ms / q.latency_p99_target_ms - 1.0
    increasing = entity.latency_trend == "increasing"
    points["latency"] = q.latency_points_max * clamp01(excess) + (
        q.latency_trend_points if increasing else 0.0
    )
    if excess > 0:
        signals.append(
            RiskSignalItem(
                type="latency_degradation",
                severity="high" if excess >= 1.0 else "medium",
                value=entity.latency_p99_ms,
                impact="service_degradation",
            )
        )

    # errors
    points["error"] = q.error_points_max * clamp01(entity.error_rate / (2 * q.error_rate_target))
    if entity.error_rate > q.error_rate_target:
        signals.append(
            RiskSignalItem(
                type="elevated_error_rate",
                severity="high" if entity.error_rate >= 2 * q.error_rate_target else "medium",
                value=entity.error_rate,
                impact="service_degradation",
            )
        )

    # cost
    degrading = bool(
        n_reg or increasing or excess > 0 or entity.error_rate > q.error_rate_target or cluster
    )
    increase = cost_increase(entity.cost_current, entity.cost_historical)
    points["cost"] = 0.0
    if increase is not None and increase >= q.cost_increase_min:
        points["cost"] = q.cost_points_max * clamp01(increase)
        suspicion = (
            "resource_abuse_or_inefficiency" if degrading else "cost_growth_without_degradation"
        )
        signals.append(
            RiskSignalItem(
                type="cost_correlation",
                severity="high"
                if degrading and increase >= 0.5
                else "medium"
                if degrading
                else "low",
                cost_increase=round(increase, 4),
                suspicion=suspicion,
            )
        )
        if degrading:
            points["cost"] += q.cost_correlation_points
            correlations.append(
                Correlation(
                    type="cost_performance_correlation",
                    cost_increase=round(increase, 4),
                    suspicion=suspicion,
                )
            )

    score = round(min(100.0, sum(points.values())), 1)
    levels = q.levels
    level = (
        "critical"
        if score >= levels.critical
        else "high"
        if score >= levels.high
        else "moderate"
        if score >= levels.moderate
        else "low"
    )
    signal = RiskSignal(
        entity_id=entity.entity_id,
        risk_level=level,  # type: ignore[arg-type]
        risk_score=score,
        signals=signals,
        correlations=correlations,
    )
    return Decision(
        engine=ENGINE,
        subject=entity.entity_id,
        outcome=level,
        output=signal.to_payload(),
        inputs=jsonable(entity),
        thresholds=policy.section(ENGINE),
        evidence={
            "points": {k: round(v, 4) for k, v in points.items()},
            "costIncrease": None if increase is None else round(increase, 6),
            "performanceDegrading": degrading,
            "shadow": q.shadow,
        },
        policy_version=policy.version,
    )
