"""CI/CD performance gate: a deployment's metrics against its baseline.

Criteria (spec; edges inclusive, so exactly 110% passes)::

    p95Latency   ≤ p95_ratio_max (1.10)        x baseline p95
    p99Latency   ≤ p99_ratio_max (1.15)        x baseline p99
    cacheHitRate ≥ cache_hit_ratio_min (0.90)  x baseline cache hit rate
    errorRate    ≤ error_rate_ratio_max (2.00) x max(baseline error rate, error_rate_floor)

A baseline error rate of 0 (or below ``error_rate_floor``, default 0.1%) would make any error a
regression of infinite size, so the floor stands in for it: with the defaults a deployment may show
up to 0.2% errors against a clean baseline. Latency baselines below ``latency_floor_ms`` are floored
the same way. Comparisons allow a relative 1e-9 so that binary floating point does not fail a
deployment sitting exactly on an edge (165 vs 150 x 1.1).

Severity of a violation, from how far past its threshold it is: ≤ ``severity_high_over`` (10%)
medium, ≤ ``severity_critical_over`` (50%) high, beyond critical.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecoperf_core.engines.base import Decision, jsonable, require_finite, require_rate
from ecoperf_core.models import GateCheckRequest, GateViolation, PerformanceGate
from ecoperf_core.policy import DEFAULT_POLICY, CicdPolicy, Policy

ENGINE = "cicd"
_REL_TOL = 1e-9


@dataclass(frozen=True)
class GateMetrics:
    """Latency in ms; rates in [0, 1]."""

    p95_latency: float
    p99_latency: float
    error_rate: float
    cache_hit_rate: float

    def validate(self, name: str) -> None:
        require_finite(f"{name}.p95Latency", self.p95_latency)
        require_finite(f"{name}.p99Latency", self.p99_latency)
        require_rate(f"{name}.errorRate", self.error_rate)
        require_rate(f"{name}.cacheHitRate", self.cache_hit_rate)


@dataclass(frozen=True)
class GateInputs:
    deployment_id: str
    candidate: GateMetrics
    baseline: GateMetrics

    @classmethod
    def from_request(cls, request: GateCheckRequest) -> GateInputs:
        d, b = request.deployment_metrics, request.baseline
        return cls(
            deployment_id=d.deployment_id,
            candidate=GateMetrics(d.p95_latency, d.p99_latency, d.error_rate, d.cache_hit_rate),
            baseline=GateMetrics(b.p95_latency, b.p99_latency, b.error_rate, b.cache_hit_rate),
        )


def severity(current: float, threshold: float, higher_is_worse: bool, cicd: CicdPolicy) -> str:
    if threshold <= 0:
        over = float("inf")
    elif higher_is_worse:
        over = current / threshold - 1.0
    else:
        over = threshold / current - 1.0 if current > 0 else float("inf")
    if over <= cicd.severity_high_over:
        return "medium"
    if over <= cicd.severity_critical_over:
        return "high"
    return "critical"


def evaluate_gate(inputs: GateInputs, policy: Policy = DEFAULT_POLICY) -> Decision:
    """Pass or block a deployment; the output is the spec's ``performanceGate``."""
    inputs.candidate.validate("deploymentMetrics")
    inputs.baseline.validate("baseline")
    cicd = policy.cicd
    c, b = inputs.candidate, inputs.baseline
    effective = {
        "p95Latency": max(b.p95_latency, cicd.latency_floor_ms),
        "p99Latency": max(b.p99_latency, cicd.latency_floor_ms),
        "errorRate": max(b.error_rate, cicd.error_rate_floor),
        "cacheHitRate": b.cache_hit_rate,
    }
    checks = [
        # type, current, baseline, threshold, higher is worse
        (
            "p95_latency_degradation",
            c.p95_latency,
            b.p95_latency,
            effective["p95Latency"] * cicd.p95_ratio_max,
            True,
        ),
        (
            "p99_latency_degradation",
            c.p99_latency,
            b.p99_latency,
            effective["p99Latency"] * cicd.p99_ratio_max,
            True,
        ),
        (
            "cache_hit_rate_degradation",
            c.cache_hit_rate,
            b.cache_hit_rate,
            min(1.0, effective["cacheHitRate"] * cicd.cache_hit_ratio_min),
            False,
        ),
        (
            "error_rate_increase",
            c.error_rate,
            b.error_rate,
            effective["errorRate"] * cicd.error_rate_ratio_max,
            True,
        ),
    ]
    violations: list[GateViolation] = []
    ratios: dict[str, float | None] = {}
    for kind, current, base, threshold, higher_is_worse in checks:
        eff = effective[_METRIC[kind]]
        ratios[kind] = round(current / eff, 6) if eff > 0 else None
        if higher_is_worse:
            ok = current <= threshold * (1 + _REL_TOL)
        else:
            ok = current >= threshold * (1 - _REL_TOL)
        if not ok:
            violations.append(
                GateViolation(
                    type=kind,
                    current=current,
                    baseline=base,
                    threshold=round(threshold, 6),
                    severity=severity(current, threshold, higher_is_worse, cicd),  # type: ignore[arg-type]
                )
            )
    passed = not violations
    gate = PerformanceGate(
        deployment=inputs.deployment_id,
        passed=passed,
        violations=violations,
        recommendation="proceed" if passed else "block_deployment",
    )
    return Decision(
        engine=ENGINE,
        subject=inputs.deployment_id,
        outcome=gate.recommendation,
        output=gate.to_payload(),
        inputs=jsonable(inputs),
        thresholds=policy.section(ENGINE),
        evidence={
            "ratiosToBaseline": ratios,
            "effectiveBaseline": effective,
            "errorRateFloorApplied": b.error_rate < cicd.error_rate_floor,
            "shadow": cicd.shadow,
        },
        policy_version=policy.version,
    )


_METRIC = {
    "p95_latency_degradation": "p95Latency",
    "p99_latency_degradation": "p99Latency",
    "cache_hit_rate_degradation": "cacheHitRate",
    "error_rate_increase": "errorRate",
}
