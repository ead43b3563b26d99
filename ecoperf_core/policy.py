"""The policy file: every threshold, weight and target the decision engines use.

One TOML file (``data/policy.toml`` by default) holds them, one section per engine plus ``slo``.
The spec's numbers are the defaults *in code*, so a missing file means the spec's behaviour and a
file only needs the keys it changes. The file is validated on load (unknown keys are refused) and
every problem names its key path, e.g. ``qnet.weights.latency: must be ≥ 0``.

``Policy.version`` is a short content hash of the normalised policy (defaults filled in, keys
sorted), so every decision can name the exact policy it was made with; two files that differ only
in comments, ordering or spelled-out defaults share a version.

Every key, its default and its meaning: ``docs/policy.md``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from ecoperf_core.errors import FieldProblem, ValidationError

Severity = Literal["low", "medium", "high", "critical"]

_UNIT = Field(ge=0, le=1)


class _Section(BaseModel):
    """Strict, frozen, closed: TOML types only, no coercion from strings, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _check_sum_one(values: Mapping[str, float], what: str) -> None:
    total = sum(values.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"{what} must sum to 1 (got {total:g})")


# --------------------------------------------------------------------------------------- QNET


class QnetWeights(_Section):
    """Weights of the four component scores in ``overallScore``; they must sum to 1."""

    latency: float = Field(default=0.4, ge=0, le=1)
    error_rate: float = Field(default=0.3, ge=0, le=1)
    capacity: float = Field(default=0.2, ge=0, le=1)
    regression: float = Field(default=0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> QnetWeights:
        _check_sum_one(self.model_dump(), "weights")
        return self


class QnetBands(_Section):
    """Score band edges and the routing weight of each band (spec: 0.9 / 0.6 / 0.3)."""

    upper: float = Field(default=0.9, gt=0, lt=1)
    middle: float = Field(default=0.6, gt=0, lt=1)
    lower: float = Field(default=0.3, gt=0, lt=1)
    weight_up: float = Field(default=1.2, gt=0)
    weight_normal: float = Field(default=1.0, gt=0)
    weight_degraded: float = Field(default=0.5, gt=0)
    weight_critical: float = Field(default=0.1, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> QnetBands:
        if not self.lower < self.middle < self.upper:
            raise ValueError(
                f"edges must satisfy lower < middle < upper "
                f"(got {self.lower:g}, {self.middle:g}, {self.upper:g})"
            )
        if not (self.weight_critical < self.weight_degraded < self.weight_normal < self.weight_up):
            raise ValueError(
                "weights must satisfy weight_critical < weight_degraded < weight_normal < weight_up"
            )
        return self


class QnetHysteresis(_Section):
    """A weight changes only when the score is ``margin`` past the edge of the current band, or
    has stayed outside it (on the same side) for ``consecutive`` evaluations in a row."""

    margin: float = Field(default=0.05, ge=0, le=0.5)
    consecutive: int = Field(default=3, ge=1)


class QnetFleet(_Section):
    """Fleet guards (Envoy: eject at most 10%, panic below 50% healthy)."""

    max_newly_down_weighted_share: float = Field(default=0.10, ge=0, le=1)
    min_newly_down_weighted: int = Field(default=1, ge=0)
    panic_threshold: float = Field(default=0.5, ge=0, le=1)


class QnetRegressionPenalty(_Section):
    """Score lost per recent change point (regression), by its severity."""

    low: float = Field(default=0.05, ge=0, le=1)
    medium: float = Field(default=0.1, ge=0, le=1)
    high: float = Field(default=0.2, ge=0, le=1)
    critical: float = Field(default=0.4, ge=0, le=1)


class QnetPolicy(_Section):
    shadow: bool = False
    latency_p95_target_ms: float = Field(default=150.0, gt=0)
    latency_p99_target_ms: float = Field(default=200.0, gt=0)
    latency_p95_share: float = Field(default=0.5, ge=0, le=1)
    latency_good_ratio: float = Field(default=0.5, ge=0)
    latency_zero_ratio: float = Field(default=2.0, gt=0)
    error_rate_target: float = Field(default=0.01, gt=0, le=1)
    error_rate_zero_ratio: float = Field(default=2.0, gt=0)
    capacity_good_utilization: float = Field(default=0.5, ge=0, le=1)
    capacity_zero_utilization: float = Field(default=1.0, gt=0, le=1)
    regression_penalty: QnetRegressionPenalty = QnetRegressionPenalty()
    weights: QnetWeights = QnetWeights()
    bands: QnetBands = QnetBands()
    hysteresis: QnetHysteresis = QnetHysteresis()
    fleet: QnetFleet = QnetFleet()

    @model_validator(mode="after")
    def _ranges(self) -> QnetPolicy:
        if self.latency_good_ratio >= self.latency_zero_ratio:
            raise ValueError("latency_good_ratio must be < latency_zero_ratio")
        if self.capacity_good_utilization >= self.capacity_zero_utilization:
            raise ValueError("capacity_good_utilization must be < capacity_zero_utilization")
        return self


# -------------------------------------------------------------------------------------- Qflow


class QflowLatencyTargets(_Section):
    read: float = Field(default=200.0, gt=0)
    write: float = Field(default=300.0, gt=0)


class QflowComplexity(_Section):
    low: float = Field(default=0.75, gt=0)
    medium: float = Field(default=1.0, gt=0)
    high: float = Field(default=1.5, gt=0)


class QflowPolicy(_Section):
    shadow: bool = False
    latency_target_ms: QflowLatencyTargets = QflowLatencyTargets()
    complexity_factor: QflowComplexity = QflowComplexity()
    latency_moderate_ratio: float = Field(default=0.8, gt=0)
    latency_high_ratio: float = Field(default=1.0, gt=0)
    latency_critical_ratio: float = Field(default=2.0, gt=0)
    burn_moderate: float = Field(default=1.0, ge=0)
    burn_high: float = Field(default=6.0, ge=0)
    burn_critical: float = Field(default=14.4, ge=0)
    cache_min_hit_rate: float = Field(default=0.5, ge=0, le=1)
    cache_fallback_types: list[Literal["read", "write"]] = ["read"]
    defer_priorities: list[Literal["low", "normal", "high"]] = ["low", "normal"]
    defer_high_priority_at_critical_risk: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> QflowPolicy:
        ratios = (self.latency_moderate_ratio, self.latency_high_ratio, self.latency_critical_ratio)
        if not ratios[0] <= ratios[1] <= ratios[2]:
            raise ValueError(
                "latency ratios must satisfy moderate ≤ high ≤ critical "
                f"(got {self.latency_moderate_ratio:g}, {self.latency_high_ratio:g}, "
                f"{self.latency_critical_ratio:g})"
            )
        if not self.burn_moderate <= self.burn_high <= self.burn_critical:
            raise ValueError(
                "burn thresholds must satisfy burn_moderate ≤ burn_high ≤ burn_critical"
            )
        return self


# ----------------------------------------------------------------------------------- Qerberos


class QerberosLevels(_Section):
    """Lowest riskScore of each level (below ``moderate`` is low)."""

    moderate: float = Field(default=25.0, ge=0, le=100)
    high: float = Field(default=50.0, ge=0, le=100)
    critical: float = Field(default=80.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> QerberosLevels:
        if not self.moderate < self.high < self.critical:
            raise ValueError("levels must satisfy moderate < high < critical")
        return self


class QerberosPolicy(_Section):
    shadow: bool = False
    latency_p99_target_ms: float = Field(default=200.0, gt=0)
    error_rate_target: float = Field(default=0.01, gt=0, le=1)
    regression_points_each: float = Field(default=10.0, ge=0)
    regression_points_max: float = Field(default=30.0, ge=0)
    regression_high_count: int = Field(default=2, ge=1)
    regression_critical_count: int = Field(default=3, ge=1)
    anomaly_points_each: float = Field(default=5.0, ge=0)
    anomaly_points_max: float = Field(default=20.0, ge=0)
    anomaly_cluster_min: int = Field(default=3, ge=1)
    capacity_points_max: float = Field(default=15.0, ge=0)
    capacity_stress_from: float = Field(default=0.7, ge=0, le=1)
    capacity_stress_signal: float = Field(default=0.85, ge=0, le=1)
    latency_points_max: float = Field(default=10.0, ge=0)
    latency_trend_points: float = Field(default=5.0, ge=0)
    error_points_max: float = Field(default=10.0, ge=0)
    cost_increase_min: float = Field(default=0.3, ge=0)
    cost_points_max: float = Field(default=10.0, ge=0)
    cost_correlation_points: float = Field(default=10.0, ge=0)
    levels: QerberosLevels = QerberosLevels()


# -------------------------------------------------------------------------------------- CI/CD


class CicdPolicy(_Section):
    shadow: bool = False
    p95_ratio_max: float = Field(default=1.10, gt=0)
    p99_ratio_max: float = Field(default=1.15, gt=0)
    cache_hit_ratio_min: float = Field(default=0.90, ge=0)
    error_rate_ratio_max: float = Field(default=2.00, gt=0)
    error_rate_floor: float = Field(default=0.001, gt=0, le=1)
    latency_floor_ms: float = Field(default=1.0, gt=0)
    severity_high_over: float = Field(default=0.10, ge=0)
    severity_critical_over: float = Field(default=0.50, ge=0)


# ------------------------------------------------------------------------------------ Go-live


class GoLiveModule(_Section):
    """Per-module overrides; a missing key falls back to the ``golive`` default."""

    monthly_budget: float | None = Field(default=None, gt=0)
    read_p99_ms: float | None = Field(default=None, gt=0)
    complex_write_p99_ms: float | None = Field(default=None, gt=0)
    cache_hit_min: float | None = Field(default=None, ge=0, le=1)
    headroom_min: float | None = Field(default=None, ge=0, lt=1)
    slo_objective: float | None = Field(default=None, gt=0, lt=1)


class GoLivePolicy(_Section):
    shadow: bool = False
    read_p99_ms: float = Field(default=200.0, gt=0)
    complex_write_p99_ms: float = Field(default=300.0, gt=0)
    steady_state_minutes: int = Field(default=30, ge=1)
    weekly_budget_burn_max: float = Field(default=0.10, gt=0, le=1)
    budget_period_days: int = Field(default=30, ge=1)
    min_requests_7d: int = Field(default=1000, ge=1)
    cache_hit_min: float = Field(default=0.85, ge=0, le=1)
    min_cache_lookups: int = Field(default=100, ge=1)
    cost_utilization_max: float = Field(default=0.80, gt=0)
    forecast_days: int = Field(default=30, ge=1)
    min_cost_days: int = Field(default=7, ge=2)
    headroom_min: float = Field(default=0.30, ge=0, lt=1)
    monthly_budget: float | None = Field(default=None, gt=0)
    modules: dict[str, GoLiveModule] = {}


# ---------------------------------------------------------------------------------------- DAO


class DaoTargets(_Section):
    latency_p99_ms: float = Field(default=200.0, gt=0)
    availability_pct: float = Field(default=99.9, gt=0, lt=100)
    throughput_rps: float = Field(default=10.0, ge=0)


class DaoTargetOverride(_Section):
    latency_p99_ms: float | None = Field(default=None, gt=0)
    availability_pct: float | None = Field(default=None, gt=0, lt=100)
    throughput_rps: float | None = Field(default=None, ge=0)


class DaoScoreWeights(_Section):
    latency: float = Field(default=0.4, ge=0, le=1)
    availability: float = Field(default=0.4, ge=0, le=1)
    throughput: float = Field(default=0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> DaoScoreWeights:
        _check_sum_one(self.model_dump(), "score_weights")
        return self


class DaoBurnTiers(_Section):
    """Burn-rate tiers (SRE workbook: ticket 1, page 6, page 14.4)."""

    monitoring: float = Field(default=1.0, ge=0)
    throttling: float = Field(default=6.0, ge=0)
    isolation: float = Field(default=14.4, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> DaoBurnTiers:
        if not self.monitoring <= self.throttling <= self.isolation:
            raise ValueError("tiers must satisfy monitoring ≤ throttling ≤ isolation")
        return self


class DaoPolicy(_Section):
    shadow: bool = False
    defaults: DaoTargets = DaoTargets()
    daos: dict[str, DaoTargetOverride] = {}
    burn_tiers: DaoBurnTiers = DaoBurnTiers()
    score_weights: DaoScoreWeights = DaoScoreWeights()
    max_isolated: int = Field(default=2, ge=0)

    def targets_for(self, dao_id: str) -> DaoTargets:
        override = self.daos.get(dao_id)
        if override is None:
            return self.defaults
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.defaults.model_copy(update=changes)


# ---------------------------------------------------------------------------------------- SLO


class SloPolicy(_Section):
    objective: float = Field(default=0.999, gt=0, lt=1)


# ------------------------------------------------- deployment safety, DR drills, outbound hooks


def _check_hook_target(value: str) -> str:
    """A hook is "" (none), an http(s) URL, or a command line (split like a shell would)."""
    import shlex

    if value == "" or value.startswith(("http://", "https://")):
        return value
    try:
        parts = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"not a URL and not a parsable command line: {exc}") from None
    if not parts:
        raise ValueError("a command hook needs a program")
    return value


class DeployHooks(_Section):
    """Who is told about traffic changes, rollbacks and the final switch (URL or command)."""

    traffic: str = ""
    rollback: str = ""
    switch: str = ""

    @model_validator(mode="after")
    def _targets(self) -> DeployHooks:
        for name in ("traffic", "rollback", "switch"):
            try:
                _check_hook_target(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return self


class DeployPolicy(_Section):
    """Canary / blue-green deployments: traffic steps, interval length and how long to wait for
    evidence before giving up (``on_exhausted``)."""

    shadow: bool = False
    steps: list[float] = [5.0, 25.0, 50.0, 100.0]
    interval: str = "10m"
    max_extensions: int = Field(default=3, ge=0)
    max_pauses: int = Field(default=2, ge=0)
    on_exhausted: Literal["rollback", "hold"] = "rollback"
    gate_environment: str = "staging"
    missing_gate_data: Literal["skip", "block"] = "skip"
    metrics: list[str] = ["latency_ms", "errors"]
    live_grace_s: float = Field(default=30.0, ge=0)
    hooks: DeployHooks = DeployHooks()

    @model_validator(mode="after")
    def _valid(self) -> DeployPolicy:
        from ecoperf_core.timeutil import window_seconds

        problems = steps_problem(self.steps)
        if problems:
            raise ValueError(f"steps: {problems}")
        try:
            window_seconds(self.interval)
        except ValueError as exc:
            raise ValueError(f"interval: {exc}") from None
        return self


def steps_problem(steps: list[float]) -> str | None:
    """Why a traffic-step list is unusable, or None: increasing percentages in (0, 100], the
    last one 100 (the full deployment)."""
    if not steps:
        return "need at least one traffic step"
    if any(not (0 < s <= 100) for s in steps):
        return f"every step must be a percentage in (0, 100] (got {steps})"
    if any(b <= a for a, b in itertools.pairwise(steps)):
        return f"steps must increase (got {steps})"
    if steps[-1] != 100:
        return f"the last step must be 100 (the full deployment; got {steps[-1]:g})"
    return None


class DrillHooks(_Section):
    failover: str = ""

    @model_validator(mode="after")
    def _targets(self) -> DrillHooks:
        try:
            _check_hook_target(self.failover)
        except ValueError as exc:
            raise ValueError(f"failover: {exc}") from None
        return self


class DrillPolicy(_Section):
    """DR drills: the DR environment against primary's baselines, restore RTO/RPO targets,
    failover triggers and the gate to return to primary."""

    primary: str = "production"
    entity_kind: str = "module"
    window: str = "1h"
    min_requests: int = Field(default=100, ge=1)
    rto_seconds: float = Field(default=900.0, gt=0)
    rpo_seconds: float = Field(default=300.0, ge=0)
    failover_burn_rate: float = Field(default=14.4, gt=0)
    failover_long_window: str = "1h"
    failover_short_window: str = "5m"
    failover_p99_ms: float = Field(default=1000.0, gt=0)
    failover_mode: Literal["recommend", "trigger"] = "recommend"
    hooks: DrillHooks = DrillHooks()

    @model_validator(mode="after")
    def _windows(self) -> DrillPolicy:
        from ecoperf_core.timeutil import window_seconds

        for name in ("window", "failover_long_window", "failover_short_window"):
            try:
                window_seconds(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return self


class HooksPolicy(_Section):
    """Every outbound hook call: timeout, retries and its circuit breaker."""

    timeout_s: float = Field(default=5.0, gt=0)
    attempts: int = Field(default=3, ge=1)
    retry_delay_s: float = Field(default=0.5, ge=0)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_s: float = Field(default=60.0, ge=0)


# ------------------------------------------------------------------------------------ publish


class DeliveryRetryPolicy(_Section):
    """Retries of outbox deliveries: exponential back-off with full jitter, then dead letter."""

    max_attempts: int = Field(default=12, ge=1, le=1000)
    base_delay_s: float = Field(default=1.0, gt=0)
    max_delay_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> DeliveryRetryPolicy:
        if self.base_delay_s > self.max_delay_s:
            raise ValueError("base_delay_s must be ≤ max_delay_s")
        return self


class AlertRule(_Section):
    """Outcomes of one component's decisions that mean its alert fires (and, of those, which are
    critical rather than warning); any other outcome resolves it."""

    firing: list[str]
    critical: list[str] = []

    @model_validator(mode="after")
    def _critical_fires(self) -> AlertRule:
        stray = sorted(set(self.critical) - set(self.firing))
        if stray:
            raise ValueError(f"critical outcomes must also be firing outcomes: {stray}")
        return self


class AlertsPolicy(_Section):
    """Alertmanager alerts per component condition (spec: Alert Integration)."""

    qnet: AlertRule = AlertRule(firing=["0.5", "0.1"], critical=["0.1"])
    qflow: AlertRule = AlertRule(firing=["queue_deferral", "cache_fallback"])
    qerberos: AlertRule = AlertRule(firing=["high", "critical"], critical=["critical"])
    cicd: AlertRule = AlertRule(firing=["block_deployment"], critical=["block_deployment"])
    dao: AlertRule = AlertRule(
        firing=["traffic_throttling", "immediate_isolation"], critical=["immediate_isolation"]
    )
    drill: AlertRule = AlertRule(firing=["PolicyBreached"], critical=["PolicyBreached"])
    golive: AlertRule = AlertRule(firing=["blocked"])
    # Alertmanager resolves an alert nobody refreshes at endsAt; events only come on changes.
    firing_ttl_s: float = Field(default=86400.0, gt=0)


class PublishPolicy(_Section):
    retry: DeliveryRetryPolicy = DeliveryRetryPolicy()
    alerts: AlertsPolicy = AlertsPolicy()


# ---------------------------------------------------------------------------------- Shadow


class ShadowPolicyRef(_Section):
    """``[shadow]``: a candidate policy evaluated beside this one on every scheduled evaluation;
    its decisions are stored with ``shadow = true`` and never published."""

    policy: str = Field(min_length=1)  # a TOML file; a relative path is relative to this file


# ------------------------------------------------------------------------------------- Policy


class Policy(_Section):
    """The whole policy; ``Policy()`` is the spec's defaults."""

    qnet: QnetPolicy = QnetPolicy()
    qflow: QflowPolicy = QflowPolicy()
    qerberos: QerberosPolicy = QerberosPolicy()
    cicd: CicdPolicy = CicdPolicy()
    golive: GoLivePolicy = GoLivePolicy()
    dao: DaoPolicy = DaoPolicy()
    slo: SloPolicy = SloPolicy()
    deploy: DeployPolicy = DeployPolicy()
    drill: DrillPolicy = DrillPolicy()
    hooks: HooksPolicy = HooksPolicy()
    publish: PublishPolicy = PublishPolicy()
    shadow: ShadowPolicyRef | None = None

    @cached_property
    def version(self) -> str:
        """Short sha256 of the normalised policy (all defaults filled in, keys sorted)."""
        return policy_hash(self.normalised())

    def normalised(self) -> dict[str, Any]:
        # The shadow pointer decides nothing itself: it is not part of the enforced version.
        return self.model_dump(mode="json", exclude={"shadow"})

    def section(self, engine: str) -> dict[str, Any]:
        """One section as plain JSON-able data (what a decision records as its thresholds)."""
        return getattr(self, engine).model_dump(mode="json")


def policy_hash(normalised: Mapping[str, Any]) -> str:
    text = json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


DEFAULT_POLICY = Policy()


# ------------------------------------------------------------------------------------ loading


@dataclass
class PolicyError(ValidationError):
    """The policy file is unusable; each problem names its key path (``qnet.weights.latency``)."""

    def __str__(self) -> str:
        lines = [f"{self.source}: invalid policy"]
        for problem in self.problems:
            where = f"{problem.field}: " if problem.field else ""
            lines.append(f"  {where}{problem.message}")
        return "\n".join(lines)


_NUMBER_TYPES = {"float_type", "int_type", "float_parsing", "int_parsing", "int_from_float"}


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind in ("float_type", "float_parsing", "finite_number"):
        if kind == "finite_number":
            return f"expected a finite number, got {value!r}"
        return f"expected a number, got {value!r}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {value!r}"
    if kind == "string_type":
        return f"expected a string, got {value!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a table, got {value!r}"
    if kind == "list_type":
        return f"expected a list, got {value!r}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required"
    if kind == "json_invalid":
        return f"not valid JSON: {ctx.get('error', error['msg'])}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {value!r}"
    bounds = {"greater_than_equal": ("≥", "ge"), "greater_than": (">", "gt")}
    bounds |= {"less_than_equal": ("≤", "le"), "less_than": ("<", "lt")}
    if kind in bounds:
        sign, key = bounds[kind]
        return f"must be {sign} {_num(ctx[key])} (got {value!r})"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])


def problems_from(exc: PydanticValidationError) -> list[FieldProblem]:
    """One ``FieldProblem`` per pydantic error, the field being the dotted key path."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        problems.append(FieldProblem(field=".".join(loc), message=_describe(error)))
    return problems


def policy_from_mapping(data: Mapping[str, Any], source: str = "<policy>") -> Policy:
    """Validate a parsed policy (e.g. a TOML document); raises ``PolicyError``."""
    try:
        return Policy.model_validate(dict(data))
    except PydanticValidationError as exc:
        raise PolicyError(source=source, problems=problems_from(exc)) from None


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate TOML text; raises ``PolicyError``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(
            source=source, problems=[FieldProblem(field="", message=f"not valid TOML: {exc}")]
        ) from None
    return policy_from_mapping(data, source)


def default_policy_path() -> Path:
    from ecoperf_core.settings import get_settings

    return get_settings().home / "policy.toml"


def load_policy(path: Path | str | None = None) -> Policy:
    """Load the policy file.

    ``path=None`` reads ``ECOPERF_POLICY`` if set, else ``<ECOPERF_HOME>/policy.toml``, falling back
    to the spec's defaults when that does not exist. An explicit path that does not exist is an error (a typo should not silently
    mean defaults).
    """
    if path is None:
        from ecoperf_core.settings import get_settings

        path = get_settings().policy  # ECOPERF_POLICY names a file that must exist
    if path is None:
        resolved = default_policy_path()
        if not resolved.exists():
            return DEFAULT_POLICY
    else:
        resolved = Path(path)
        if not resolved.exists():
            raise PolicyError(
                source=str(resolved),
                problems=[FieldProblem(field="", message="policy file not found")],
            )
    return parse_policy(resolved.read_text(encoding="utf-8"), str(resolved))
