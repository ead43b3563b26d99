"""DAO subnet evaluation: SLO compliance, score, error-budget burn and isolation recommendation.

Targets per DAO come from ``policy.dao.daos.<id>`` over ``policy.dao.defaults`` (spec defaults:
latency p99 200 ms, availability 99.9%, throughput 10 rps).

Compliance: latency ``actual ≤ target``; availability ``actual ≥ target``; throughput
``actual ≥ target`` (a floor of delivered throughput).

performanceScore (0-100) = 100 x Σ weight x score, with per-SLO scores in [0, 1]:
latency ``min(1, target / actual)``, availability ``min(1, (100 - target) / (100 - actual))`` (the
unavailability budget against the unavailability seen), throughput ``min(1, actual / target)``.

errorBudgetBurn is a burn rate (1.0 spends the budget exactly over the SLO period). When the caller
gives multi-window burn rates (SRE workbook: long and short window) the burn is their minimum (both
windows must exceed a tier); otherwise it is the snapshot ``max(errorRate, 1 - uptime/100) /
(1 - availability target/100)``.

isolationRecommendation by burn (SRE workbook tiers): ≥ 14.4 immediate_isolation, ≥ 6
traffic_throttling, ≥ 1 performance_monitoring; below 1, performance_monitoring if any SLO is
violated, else none. impactAssessment: critical at ≥ 14.4; high at ≥ 6 or two or more violations;
moderate at ≥ 1 or one violation; else low.

Fleet cap (:func:`evaluate_daos`): at most ``max_isolated`` DAOs in immediate_isolation at once.
DAOs already isolated keep their slot first, then the highest burn; the rest are downgraded to
traffic_throttling and the reason says so.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ecoperf_core.engines.base import Decision, jsonable, require_finite, require_rate
from ecoperf_core.models import DaoEvaluation, DaoSubnetRequest, SloCompliance, SloItem
from ecoperf_core.policy import DEFAULT_POLICY, Policy

ENGINE = "dao"
TIERS = ("none", "performance_monitoring", "traffic_throttling", "immediate_isolation")


@dataclass(frozen=True)
class DaoInputs:
    dao_id: str
    latency_p99_ms: float
    availability_pct: float  # uptime, 0-100
    throughput_rps: float
    error_rate: float
    burn_rate_long: float | None = None  # e.g. 1 h window
    burn_rate_short: float | None = None  # e.g. 5 m window

    @classmethod
    def from_request(
        cls,
        request: DaoSubnetRequest,
        *,
        burn_rate_long: float | None = None,
        burn_rate_short: float | None = None,
    ) -> DaoInputs:
        m = request.subnet_metrics
        return cls(
            dao_id=request.dao_id,
            latency_p99_ms=m.latency.p99,
            availability_pct=m.availability.uptime,
            throughput_rps=m.throughput.rps,
            error_rate=m.error_rate,
            burn_rate_long=burn_rate_long,
            burn_rate_short=burn_rate_short,
        )


def _ratio_score(good: float, seen: float) -> float:
    """min(1, good / seen), 1 when nothing was seen."""
    if seen <= 0:
        return 1.0
    return min(1.0, good / seen)


def evaluate_dao(
    dao: DaoInputs, policy: Policy = DEFAULT_POLICY, *, _cap_reason: str | None = None
) -> Decision:
    """Evaluate one DAO subnet; the output is the spec's ``daoEvaluation``."""
    require_finite("latency.p99", dao.latency_p99_ms)
    require_finite("availability.uptime", dao.availability_pct)
    if dao.availability_pct > 100:
        raise ValueError(f"availability.uptime: must be ≤ 100 (got {dao.availability_pct!r})")
    require_finite("throughput.rps", dao.throughput_rps)
    require_rate("errorRate", dao.error_rate)
    require_finite("burnRateLong", dao.burn_rate_long)
    require_finite("burnRateShort", dao.burn_rate_short)
    p = policy.dao
    t = p.targets_for(dao.dao_id)

    latency_ok = dao.latency_p99_ms <= t.latency_p99_ms
    availability_ok = dao.availability_pct >= t.availability_pct
    throughput_ok = dao.throughput_rps >= t.throughput_rps
    violations = [
        name
        for name, ok in (
            ("latency", latency_ok),
            ("availability", availability_ok),
            ("throughput", throughput_ok),
        )
        if not ok
    ]

    scores = {
        "latency": _ratio_score(t.latency_p99_ms, dao.latency_p99_ms),
        "availability": _ratio_score(100.0 - t.availability_pct, 100.0 - dao.availability_pct),
        "throughput": 1.0
        if t.throughput_rps <= 0
        else min(1.0, dao.throughput_rps / t.throughput_rps),
    }
    w = p.score_weights
    performance = 100.0 * (
        w.latency * scores["latency"]
        + w.availability * scores["availability"]
        + w.throughput * scores["throughput"]
    )

    budget = 1.0 - t.availability_pct / 100.0
    windows = [b for b in (dao.burn_rate_long, dao.burn_rate_short) if b is not None]
    if windows:
        burn = min(windows)
        burn_source = "multi_window_min" if len(windows) == 2 else "single_window"
    else:
        bad = max(dao.error_rate, 1.0 - dao.availability_pct / 100.0)
        burn = bad / budget
        burn_source = "snapshot"
    burn = round(burn, 4)

    tiers = p.burn_tiers
    if burn >= tiers.isolation:
        tier, reason = 3, f"burn rate {burn:g} ≥ {tiers.isolation:g}"
    elif burn >= tiers.throttling:
        tier, reason = 2, f"burn rate {burn:g} ≥ {tiers.throttling:g}"
    elif burn >= tiers.monitoring:
        tier, reason = 1, f"burn rate {burn:g} ≥ {tiers.monitoring:g}"
    elif violations:
        tier, reason = 1, f"SLO violation ({', '.join(violations)}) at burn rate {burn:g}"
    else:
        tier, reason = 0, "within SLO targets"
    if _cap_reason is not None and tier == 3:
        tier, reason = 2, f"{reason}; {_cap_reason}"

    if burn >= tiers.isolation:
        impact = "critical"
    elif burn >= tiers.throttling or len(violations) >= 2:
        impact = "high"
    elif burn >= tiers.monitoring or violations:
        impact = "moderate"
    else:
        impact = "low"

    def item(ok: bool, actual: float, target: float) -> SloItem:
        return SloItem(status="compliant" if ok else "violation", actual=actual, target=target)

    evaluation = DaoEvaluation(
        dao_id=dao.dao_id,
        performance_score=round(performance, 1),
        slo_compliance=SloCompliance(
            latency=item(latency_ok, dao.latency_p99_ms, t.latency_p99_ms),
            availability=item(availability_ok, dao.availability_pct, t.availability_pct),
            throughput=item(throughput_ok, dao.throughput_rps, t.throughput_rps),
        ),
        isolation_recommendation=TIERS[tier],  # type: ignore[arg-type]
        error_budget_burn=burn,
        impact_assessment=impact,  # type: ignore[arg-type]
        reason=reason,
    )
    return Decision(
        engine=ENGINE,
        subject=dao.dao_id,
        outcome=TIERS[tier],
        output=evaluation.to_payload(),
        inputs=jsonable(dao),
        thresholds={**policy.section(ENGINE), "targets": t.model_dump(mode="json")},
        evidence={
            "sloScores": {k: round(v, 4) for k, v in scores.items()},
            "violations": violations,
            "burnSource": burn_source,
            "errorBudget": round(budget, 9),
            "cappedFromIsolation": _cap_reason is not None
            and tier == 2
            and burn >= tiers.isolation,
            "shadow": p.shadow,
        },
        policy_version=policy.version,
    )


def evaluate_daos(
    daos: Sequence[DaoInputs],
    policy: Policy = DEFAULT_POLICY,
    currently_isolated: Collection[str] = (),
) -> list[Decision]:
    """Evaluate many DAOs with the cap on simultaneous isolations.

    ``currently_isolated``: DAOs isolated by earlier decisions. Those still qualifying keep their
    slot first; those not evaluated here still occupy one.
    """
    ids = {d.dao_id for d in daos}
    if len(ids) != len(daos):
        raise ValueError("daos: a dao_id appears more than once")
    decisions = [evaluate_dao(d, policy) for d in daos]
    isolated_now = set(currently_isolated)
    slots = max(0, policy.dao.max_isolated - len(isolated_now - ids))
    wanting = [(i, d) for i, d in enumerate(decisions) if d.outcome == "immediate_isolation"]
    wanting.sort(
        key=lambda pair: (
            pair[1].subject not in isolated_now,
            -pair[1].output["errorBudgetBurn"],
            pair[1].subject,
        )
    )
    cap_reason = (
        f"isolation cap: at most {policy.dao.max_isolated} DAOs isolated at once; "
        "downgraded to traffic_throttling"
    )
    out = list(decisions)
    for i, _ in wanting[slots:]:
        out[i] = evaluate_dao(daos[i], policy, _cap_reason=cap_reason)
    return out
