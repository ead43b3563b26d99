"""Qflow: performance-aware operation policy (proceed | queue_deferral | cache_fallback).

Inputs are the operation (type, complexity, priority) and the current conditions the caller reads
from the warehouse: SLO violation state, the estimated latency of the operation type from its
history, the error-budget burn rate, and whether a cache is available with its hit rate.

Derived signals::

    estimate      = estimated_latency_ms x complexity_factor[complexity]
    latency_ratio = estimate / latency_target_ms[type]
    latency risk  = latency_ratio > latency_high_ratio (1.0)
    stressed      = slo_violation or burn ≥ burn_high (6)
    cache usable  = type in cache_fallback_types and cache available
                    and (hit rate unknown or hit rate ≥ cache_min_hit_rate)

riskLevel is the highest of: latency (ratio ≥ 0.8 moderate, > 1.0 high, ≥ 2.0 critical),
burn (≥ 1 moderate, ≥ 6 high, ≥ 14.4 critical) and SLO violation (high).

Rule table, first match wins (docs/engines.md has the same table):

====  ============================================================  ===============  ===========================
rule  condition                                                     decision         reason
====  ============================================================  ===============  ===========================
R1    priority = critical                                           proceed          critical_priority
R2    latency risk and cache usable                                 cache_fallback   high_latency_risk
R3    stressed and cache usable                                     cache_fallback   slo_violation / error_budget_burn
R4    stressed and priority in defer_priorities (low, normal)       queue_deferral   slo_violation / error_budget_burn
R5    riskLevel critical and priority high (if enabled)             queue_deferral   critical_risk
R6    latency risk and priority low                                 queue_deferral   high_latency_risk_no_cache
R7    riskLevel low                                                 proceed          healthy
R8    otherwise                                                     proceed          risk_accepted
====  ============================================================  ===============  ===========================

Critical-priority operations are never deferred (R1 comes first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ecoperf_core.engines.base import Decision, jsonable, require_finite, require_rate
from ecoperf_core.models import PolicyCheckRequest, PolicyEvaluation
from ecoperf_core.policy import DEFAULT_POLICY, Policy

ENGINE = "qflow"
LEVELS = ("low", "moderate", "high", "critical")


@dataclass(frozen=True)
class OperationInputs:
    operation_id: str
    type: Literal["read", "write"]
    complexity: Literal["low", "medium", "high"] = "medium"
    priority: Literal["low", "normal", "high", "critical"] = "normal"
    user_id: str | None = None
    slo_violation: bool = False
    estimated_latency_ms: float | None = None  # of this operation type, from its history
    error_budget_burn: float = 0.0  # burn rate: error ratio / (1 - SLO)
    cache_available: bool = False
    cache_hit_rate: float | None = None

    @classmethod
    def from_request(
        cls,
        request: PolicyCheckRequest,
        *,
        slo_violation: bool = False,
        estimated_latency_ms: float | None = None,
        error_budget_burn: float = 0.0,
        cache_available: bool = False,
        cache_hit_rate: float | None = None,
    ) -> OperationInputs:
        op, ctx = request.operation, request.context
        return cls(
            operation_id=op.id,
            type=op.type,
            complexity=op.params.complexity,
            priority=ctx.priority,
            user_id=ctx.user_id,
            slo_violation=slo_violation,
            estimated_latency_ms=estimated_latency_ms,
            error_budget_burn=error_budget_burn,
            cache_available=cache_available,
            cache_hit_rate=cache_hit_rate,
        )


def _level(value: float, moderate: float, high: float, critical: float, strict_high: bool) -> int:
    if value >= critical:
        return 3
    if value > high or (not strict_high and value >= high):
        return 2
    if value >= moderate:
        return 1
    return 0


def evaluate_operation(op: OperationInputs, policy: Policy = DEFAULT_POLICY) -> Decision:
    """Decide how an operation should run now; the output is the spec's ``policyEvaluation``."""
    require_finite("estimatedLatencyMs", op.estimated_latency_ms)
    require_finite("errorBudgetBurn", op.error_budget_burn)
    require_rate("cacheHitRate", op.cache_hit_rate)
    q = policy.qflow
    target = getattr(q.latency_target_ms, op.type)
    factor = getattr(q.complexity_factor, op.complexity)
    estimate = None if op.estimated_latency_ms is None else op.estimated_latency_ms * factor
    ratio = None if estimate is None else estimate / target
    latency_level = (
        0
        if ratio is None
        else _level(
            ratio, q.latency_moderate_ratio, q.latency_high_ratio, q.latency_critical_ratio, True
        )
    )
    burn = op.error_budget_burn
    burn_level = _level(burn, q.burn_moderate, q.burn_high, q.burn_critical, False)
    risk = max(latency_level, burn_level, 2 if op.slo_violation else 0)
    latency_risk = ratio is not None and ratio > q.latency_high_ratio
    stressed = op.slo_violation or burn >= q.burn_high
    stress_reason = "slo_violation" if op.slo_violation else "error_budget_burn"
    cacheable = op.type in q.cache_fallback_types
    cache_usable = (
        cacheable
        and op.cache_available
        and (op.cache_hit_rate is None or op.cache_hit_rate >= q.cache_min_hit_rate)
    )

    if op.priority == "critical":
        rule, decision, reason = "R1", "proceed", "critical_priority"
    elif latency_risk and cache_usable:
        rule, decision, reason = "R2", "cache_fallback", "high_latency_risk"
    elif stressed and cache_usable:
        rule, decision, reason = "R3", "cache_fallback", stress_reason
    elif stressed and op.priority in q.defer_priorities:
        rule, decision, reason = "R4", "queue_deferral", stress_reason
    elif risk == 3 and op.priority == "high" and q.defer_high_priority_at_critical_risk:
        rule, decision, reason = "R5", "queue_deferral", "critical_risk"
    elif latency_risk and op.priority == "low":
        rule, decision, reason = "R6", "queue_deferral", "high_latency_risk_no_cache"
    elif risk == 0:
        rule, decision, reason = "R7", "proceed", "healthy"
    else:
        rule, decision, reason = "R8", "proceed", "risk_accepted"

    simplify = op.complexity != "low"
    alternatives: list[str] = []
    if decision == "cache_fallback":
        alternatives = ["use_cached_result"] + (["simplified_operation"] if simplify else [])
    elif decision == "queue_deferral":
        alternatives = ["retry_after_recovery"]
        alternatives += ["use_cached_result"] if cache_usable else []
        alternatives += ["simplified_operation"] if simplify else []
    elif risk > 0:
        alternatives = (["simplified_operation"] if simplify else []) + (
            ["use_cached_result"] if cache_usable else []
        )

    evaluation = PolicyEvaluation(
        operation_id=op.operation_id,
        decision=decision,  # type: ignore[arg-type]
        reason=reason,
        risk_level=LEVELS[risk],  # type: ignore[arg-type]
        alternatives=alternatives,
    )
    return Decision(
        engine=ENGINE,
        subject=op.operation_id,
        outcome=decision,
        output=evaluation.to_payload(),
        inputs=jsonable(op),
        thresholds=policy.section(ENGINE),
        evidence={
            "rule": rule,
            "latencyTargetMs": target,
            "complexityFactor": factor,
            "estimatedLatencyMs": estimate,
            "latencyRatio": None if ratio is None else round(ratio, 6),
            "latencyRisk": LEVELS[latency_level],
            "burnRisk": LEVELS[burn_level],
            "stressed": stressed,
            "cacheUsable": cache_usable,
            "noLatencyHistory": op.estimated_latency_ms is None,
            "shadow": q.shadow,
        },
        policy_version=policy.version,
    )
