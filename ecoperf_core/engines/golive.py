"""Go-live readiness per module and environment: five quick gates, never passing on thin data.

Gates (spec; thresholds from ``policy.golive``, per-module overrides in ``golive.modules.<name>``):

* latency: the maximum per-minute p99 over the last ``steady_state_minutes`` (30) must be
  ≤ ``read_p99_ms`` (200) for reads and ≤ ``complex_write_p99_ms`` (300) for complex writes (when the
  module has them). Fewer than 30 minutes of data: insufficient.
* errorBudget: share of the SLO period's error budget consumed in the last 7 days,
  ``(errors / requests) / (1 - SLO) x 7 / budget_period_days``, must be < ``weekly_budget_burn_max``
  (10%). Fewer than ``min_requests_7d`` requests: insufficient.
* cache: hot-query hit rate ≥ ``cache_hit_min`` (85%); fewer than ``min_cache_lookups``: insufficient.
* cost: a least-squares line through the daily costs (oldest first) is extended
  ``forecast_days`` (30) ahead; the forecast month (each day floored at 0, scaled to 30 days) must be
  < ``cost_utilization_max`` (80%) of the monthly budget. Fewer than ``min_cost_days`` days, or no
  budget: insufficient.
* capacity: headroom ``1 - peak_rps / capacity_rps`` ≥ ``headroom_min`` (30%); missing: insufficient.

overallStatus: ``blocked`` if any gate failed, else ``insufficient_data`` if any gate lacks data,
else ``ready``. A gate without data has ``passed = false`` and ``status = insufficient_data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecoperf_core.engines.base import Decision, jsonable, require_finite, require_rate
from ecoperf_core.models import GoLiveReadiness, ReadinessGate
from ecoperf_core.policy import DEFAULT_POLICY, Policy

ENGINE = "golive"
GATES = ("latency", "errorBudget", "cache", "cost", "capacity")


@dataclass(frozen=True)
class LatencyWindow:
    """When only the maximum p99 over a window is known (instead of a per-minute series)."""

    max_p99_ms: float
    minutes: int


@dataclass(frozen=True)
class GoLiveInputs:
    module: str
    environment: str
    read_p99_ms: Sequence[float] | LatencyWindow = ()  # per-minute p99, oldest first
    complex_write_p99_ms: Sequence[float] | LatencyWindow | None = None  # None: no complex writes
    errors_7d: int | None = None
    requests_7d: int | None = None
    cache_hit_rate: float | None = None  # on hot queries
    cache_lookups: int = 0
    daily_costs: Sequence[float] = ()  # oldest first
    monthly_budget: float | None = None  # overrides the policy's budget
    peak_rps: float | None = None
    capacity_rps: float | None = None


@dataclass(frozen=True)
class _Thresholds:
    read_p99_ms: float
    complex_write_p99_ms: float
    cache_hit_min: float
    headroom_min: float
    slo_objective: float
    monthly_budget: float | None


def thresholds_for(module: str, policy: Policy, budget: float | None = None) -> _Thresholds:
    g = policy.golive
    m = g.modules.get(module)

    def pick(name: str, default: Any) -> Any:
        value = getattr(m, name) if m is not None else None
        return default if value is None else value

    return _Thresholds(
        read_p99_ms=pick("read_p99_ms", g.read_p99_ms),
        complex_write_p99_ms=pick("complex_write_p99_ms", g.complex_write_p99_ms),
        cache_hit_min=pick("cache_hit_min", g.cache_hit_min),
        headroom_min=pick("headroom_min", g.headroom_min),
        slo_objective=pick("slo_objective", policy.slo.objective),
        monthly_budget=budget if budget is not None else pick("monthly_budget", g.monthly_budget),
    )


def _gate(
    status: str, measured: float | None, threshold: float | None, message: str
) -> ReadinessGate:
    return ReadinessGate(
        passed=status == "passed",
        status=status,  # type: ignore[arg-type]
        measured=None if measured is None else round(float(measured), 6),
        threshold=threshold,
        message=message,
    )


def _window_max(
    data: Sequence[float] | LatencyWindow, minutes: int, name: str
) -> tuple[float | None, int]:
    if isinstance(data, LatencyWindow):
        require_finite(f"{name}.max_p99_ms", data.max_p99_ms)
        return (data.max_p99_ms if data.minutes >= minutes else None), data.minutes
    values = np.asarray(list(data), dtype=np.float64)
    if values.size and (not np.isfinite(values).all() or (values < 0).any()):
        raise ValueError(f"{name}: per-minute p99 values must be finite and ≥ 0")
    if values.size < minutes:
        return None, int(values.size)
    return float(values[-minutes:].max()), int(values.size)


def latency_gate(inputs: GoLiveInputs, t: _Thresholds, minutes: int) -> ReadinessGate:
    classes = [("read", inputs.read_p99_ms, t.read_p99_ms)]
    if inputs.complex_write_p99_ms is not None:
        classes.append(("complex write", inputs.complex_write_p99_ms, t.complex_write_p99_ms))
    parts, worst, missing = [], None, []
    failed = False
    for label, data, target in classes:
        peak, have = _window_max(data, minutes, f"{label} p99")
        if peak is None:
            missing.append(f"{label}: {have} of {minutes} minutes")
            continue
        ok = peak <= target
        failed |= not ok
        parts.append(f"{label} p99 max {peak:g} ms {'≤' if ok else '>'} {target:g} ms")
        ratio = peak / target
        if worst is None or ratio > worst[0]:
            worst = (ratio, peak, target)
    if failed:
        assert worst is not None
        return _gate(
            "failed",
            worst[1],
            worst[2],
            f"Latency above target over {minutes} min: " + "; ".join(parts),
        )
    if missing:
        return _gate(
            "insufficient_data",
            None if worst is None else worst[1],
            t.read_p99_ms if worst is None else worst[2],
            f"Not enough steady-state latency data ({', '.join(missing)})",
        )
    assert worst is not None
    return _gate(
        "passed",
        worst[1],
        worst[2],
        f"Latency requirements met over {minutes} min: " + "; ".join(parts),
    )


def error_budget_gate(inputs: GoLiveInputs, t: _Thresholds, policy: Policy) -> ReadinessGate:
    g = policy.golive
    limit = g.weekly_budget_burn_max
    if (
        inputs.requests_7d is None
        or inputs.errors_7d is None
        or inputs.requests_7d < g.min_requests_7d
    ):
        have = inputs.requests_7d or 0
        return _gate(
            "insufficient_data",
            None,
            limit,
            f"Only {have} requests in 7 days (need {g.min_requests_7d})",
        )
    if inputs.errors_7d < 0 or inputs.errors_7d > inputs.requests_7d:
        raise ValueError("errors_7d: must be between 0 and requests_7d")
    ratio = inputs.errors_7d / inputs.requests_7d
    consumed = ratio / (1.0 - t.slo_objective) * 7.0 / g.budget_period_days
    if consumed < limit:
        return _gate(
            "passed", consumed, limit, f"Error budget within limits ({consumed:.1%} used in 7 days)"
        )
    return _gate(
        "failed",
        consumed,
        limit,
        f"Error budget burn {consumed:.1%} in 7 days (limit < {limit:.0%})",
    )


def cache_gate(inputs: GoLiveInputs, t: _Thresholds, policy: Policy) -> ReadinessGate:
    need = policy.golive.min_cache_lookups
    rate = inputs.cache_hit_rate
    if rate is None or inputs.cache_lookups < need:
        return _gate(
            "insufficient_data",
            rate,
            t.cache_hit_min,
            f"Only {inputs.cache_lookups} hot-query cache lookups (need {need})",
        )
    require_rate("cache_hit_rate", rate)
    if rate >= t.cache_hit_min:
        return _gate("passed", rate, t.cache_hit_min, f"Cache hit rate {rate:.1%} meets threshold")
    return _gate(
        "failed",
        rate,
        t.cache_hit_min,
        f"Cache hit rate {rate:.1%} below threshold {t.cache_hit_min:.0%}",
    )


def forecast_cost(daily_costs: Sequence[float], days: int) -> tuple[float, float, float]:
    """Least-squares line through daily costs; returns (sum of the next ``days``, slope, intercept)."""
    y = np.asarray(list(daily_costs), dtype=np.float64)
    x = np.arange(y.size, dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    future = intercept + slope * np.arange(y.size, y.size + days, dtype=np.float64)
    return float(np.clip(future, 0.0, None).sum()), float(slope), float(intercept)


def cost_gate(inputs: GoLiveInputs, t: _Thresholds, policy: Policy) -> tuple[ReadinessGate, dict]:
    g = policy.golive
    limit = g.cost_utilization_max
    costs = list(inputs.daily_costs)
    if any(not np.isfinite(c) or c < 0 for c in costs):
        raise ValueError("daily_costs: values must be finite and ≥ 0")
    if t.monthly_budget is None:
        return _gate("insufficient_data", None, limit, "No monthly budget configured"), {}
    if len(costs) < g.min_cost_days:
        return (
            _gate(
                "insufficient_data",
                None,
                limit,
                f"Only {len(costs)} days of cost data (need {g.min_cost_days})",
            ),
            {},
        )
    total, slope, intercept = forecast_cost(costs, g.forecast_days)
    monthly = total * 30.0 / g.forecast_days
    # least squares carries float noise of ~1e-14 that differs between BLAS builds: round so a
    # forecast exactly at the limit fails on every machine (the limit is strict)
    utilization = round(monthly / t.monthly_budget, 9)
    evidence = {
        "forecastMonthlyCost": round(monthly, 4),
        "slopePerDay": round(slope, 6),
        "intercept": round(intercept, 6),
        "lastDailyCost": costs[-1],
        "monthlyBudget": t.monthly_budget,
    }
    if utilization < limit:
        msg = f"Cost utilization within budget (forecast {utilization:.0%} of monthly budget)"
        return _gate("passed", utilization, limit, msg), evidence
    msg = f"Forecast cost {utilization:.0%} of monthly budget (limit < {limit:.0%})"
    return _gate("failed", utilization, limit, msg), evidence


def capacity_gate(inputs: GoLiveInputs, t: _Thresholds) -> ReadinessGate:
    require_finite("peak_rps", inputs.peak_rps)
    require_finite("capacity_rps", inputs.capacity_rps)
    if inputs.peak_rps is None or not inputs.capacity_rps:
        return _gate("insufficient_data", None, t.headroom_min, "Peak RPS or capacity unknown")
    headroom = 1.0 - inputs.peak_rps / inputs.capacity_rps
    if headroom >= t.headroom_min - 1e-12:
        return _gate(
            "passed", headroom, t.headroom_min, f"Sufficient capacity headroom ({headroom:.0%})"
        )
    return _gate(
        "failed",
        headroom,
        t.headroom_min,
        f"Capacity headroom {headroom:.0%} at peak below {t.headroom_min:.0%}",
    )


_ADVICE = {
    "latency": "Reduce p99 latency (profile slow queries, add caching) and hold it for the steady-state window",
    "errorBudget": "Fix the main error sources before go-live; the weekly error-budget burn is too high",
    "cache": "Warm or extend caching of hot queries to reach the hit-rate target",
    "cost": "Reduce the cost trend or raise the monthly budget before go-live",
    "capacity": "Add capacity or reduce peak load to restore headroom",
}


def evaluate_readiness(inputs: GoLiveInputs, policy: Policy = DEFAULT_POLICY) -> Decision:
    """Readiness of one module in one environment; output is the spec's ``goLiveReadiness``."""
    require_finite("monthly_budget", inputs.monthly_budget)
    t = thresholds_for(inputs.module, policy, inputs.monthly_budget)
    minutes = policy.golive.steady_state_minutes
    cost, cost_evidence = cost_gate(inputs, t, policy)
    gates = {
        "latency": latency_gate(inputs, t, minutes),
        "errorBudget": error_budget_gate(inputs, t, policy),
        "cache": cache_gate(inputs, t, policy),
        "cost": cost,
        "capacity": capacity_gate(inputs, t),
    }
    failed = [name for name in GATES if gates[name].status == "failed"]
    missing = [name for name in GATES if gates[name].status == "insufficient_data"]
    status = "blocked" if failed else "insufficient_data" if missing else "ready"
    blockers = [f"{name}: {gates[name].message}" for name in failed]
    recommendations = [_ADVICE[name] for name in failed]
    recommendations += [f"Collect more data for the {name} gate" for name in missing]
    readiness = GoLiveReadiness(
        module=inputs.module,
        environment=inputs.environment,
        overall_status=status,  # type: ignore[arg-type]
        gates=gates,
        blockers=blockers,
        recommendations=recommendations,
    )
    inputs_json = jsonable(inputs)
    return Decision(
        engine=ENGINE,
        subject=f"{inputs.module}@{inputs.environment}",
        outcome=status,
        output=readiness.to_payload(),
        inputs=inputs_json,
        thresholds={**policy.section(ENGINE), "effective": jsonable(t)},
        evidence={
            "failed": failed,
            "insufficient": missing,
            "cost": cost_evidence,
            "shadow": policy.golive.shadow,
        },
        policy_version=policy.version,
    )
