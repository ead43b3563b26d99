"""Pydantic models of the spec's request and response payloads.

Field names are snake_case in Python and camelCase on the wire (``nodeId``, ``errorRate``): both
spellings are accepted on input, and dumps use camelCase. Requests are validated strictly: no
strings for numbers, no unknown keys, no NaN or infinity, no negative latencies or rates, rates
within [0, 1], p95 never above p99. Every error names its field, e.g.
``nodeMetrics.latency.p95: must be ≥ 0 (got -1)``; :func:`parse_request` turns pydantic's error into
an :class:`ecoperf_core.errors.ValidationError` listing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from ecoperf_core.errors import FieldProblem, ValidationError
from ecoperf_core.policy import problems_from

Priority = Literal["low", "normal", "high", "critical"]
Complexity = Literal["low", "medium", "high"]
OperationType = Literal["read", "write"]
RiskLevel = Literal["low", "moderate", "high", "critical"]
Severity = Literal["low", "medium", "high", "critical"]
Trend = Literal["increasing", "stable", "decreasing"]

Rate = Annotated[float, Field(ge=0, le=1)]
Millis = Annotated[float, Field(ge=0)]
NonNegative = Annotated[float, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]
Ident = Annotated[str, Field(min_length=1, max_length=256)]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; finite numbers only; frozen."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        allow_inf_nan=False,
        frozen=True,
    )

    def to_payload(self) -> dict[str, Any]:
        """The JSON-able camelCase payload."""
        return self.model_dump(mode="json", by_alias=True)


class RequestModel(ApiModel):
    """Requests also refuse unknown keys and type coercion ("120" is not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _check_order(p95: float | None, p99: float | None, low: str, high: str) -> None:
    if p95 is not None and p99 is not None and p95 > p99:
        raise PydanticCustomError(
            "percentile_order",
            "{low} ({p95}) must not exceed {high} ({p99})",
            {"low": low, "high": high, "p95": p95, "p99": p99},
        )


# ------------------------------------------------------------------------------------ requests


class LatencyPercentiles(RequestModel):
    p95: Millis
    p99: Millis

    @model_validator(mode="after")
    def _ordered(self) -> LatencyPercentiles:
        _check_order(self.p95, self.p99, "p95", "p99")
        return self


class Capacity(RequestModel):
    utilization: Rate


class RecentRegressions(RequestModel):
    """Beyond the spec: recent change points of the node (normally read from the warehouse)."""

    count: int = Field(default=0, ge=0)
    severity: Severity = "medium"


class NodeMetrics(RequestModel):
    latency: LatencyPercentiles
    error_rate: Rate
    capacity: Capacity
    regressions: RecentRegressions | None = None


class NodeScoreRequest(RequestModel):
    node_id: Ident
    node_metrics: NodeMetrics


class OperationParams(RequestModel):
    complexity: Complexity = "medium"


class Operation(RequestModel):
    id: Ident
    type: OperationType
    params: OperationParams = OperationParams()


class OperationContext(RequestModel):
    user_id: str | None = None
    priority: Priority = "normal"


class PolicyCheckRequest(RequestModel):
    operation: Operation
    context: OperationContext = OperationContext()


class TrendLatency(RequestModel):
    p99: Millis
    trend: Trend = "stable"


class CostMetrics(RequestModel):
    current: NonNegative
    historical: list[NonNegative] = []


class PerformanceData(RequestModel):
    latency: TrendLatency
    error_rate: Rate
    cost_metrics: CostMetrics | None = None
    # Beyond the spec: counts normally read from the detections in the warehouse.
    regression_count: int = Field(default=0, ge=0)
    regression_severity: Severity | None = None
    anomaly_count: int = Field(default=0, ge=0)
    utilization: Rate | None = None


class RiskAssessmentRequest(RequestModel):
    entity_id: Ident
    performance_data: PerformanceData


class BaselineMetrics(RequestModel):
    deployment_id: str | None = None
    p95_latency: Millis
    p99_latency: Millis
    error_rate: Rate
    cache_hit_rate: Rate

    @model_validator(mode="after")
    def _ordered(self) -> BaselineMetrics:
        _check_order(self.p95_latency, self.p99_latency, "p95Latency", "p99Latency")
        return self


class DeploymentMetrics(BaselineMetrics):
    deployment_id: Ident  # type: ignore[assignment]  # required here, optional on a baseline


class GateCheckRequest(RequestModel):
    deployment_metrics: DeploymentMetrics
    baseline: BaselineMetrics


class P99Latency(RequestModel):
    p99: Millis


class Availability(RequestModel):
    uptime: Percent


class Throughput(RequestModel):
    rps: NonNegative


class SubnetMetrics(RequestModel):
    latency: P99Latency
    availability: Availability
    throughput: Throughput
    error_rate: Rate


class DaoSubnetRequest(RequestModel):
    dao_id: Ident
    subnet_metrics: SubnetMetrics


# ----------------------------------------------------------------------------------- responses


class NodeScore(ApiModel):
    node_id: str
    latency_score: float
    error_rate_score: float
    capacity_score: float
    regression_score: float
    overall_score: float
    recommendation: Literal["high_performing", "healthy", "degraded", "failing"]
    routing_weight: float


class PolicyEvaluation(ApiModel):
    operation_id: str
    decision: Literal["proceed", "queue_deferral", "cache_fallback"]
    reason: str
    risk_level: RiskLevel
    alternatives: list[str]


class RiskSignalItem(ApiModel):
    type: str
    severity: Severity
    count: int | None = None
    impact: str | None = None
    value: float | None = None
    cost_increase: float | None = None
    suspicion: str | None = None


class Correlation(ApiModel):
    type: str
    cost_increase: float
    suspicion: str


class RiskSignal(ApiModel):
    entity_id: str
    risk_level: RiskLevel
    risk_score: float
    signals: list[RiskSignalItem]
    correlations: list[Correlation]

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class GateViolation(ApiModel):
    type: str
    current: float
    baseline: float
    threshold: float
    severity: Severity


class PerformanceGate(ApiModel):
    deployment: str
    passed: bool
    violations: list[GateViolation]
    recommendation: Literal["proceed", "block_deployment"]


class ReadinessGate(ApiModel):
    passed: bool
    status: Literal["passed", "failed", "insufficient_data"]
    measured: float | None
    threshold: float | None
    message: str


class GoLiveReadiness(ApiModel):
    module: str
    environment: str
    overall_status: Literal["ready", "blocked", "insufficient_data"]
    gates: dict[str, ReadinessGate]
    blockers: list[str]
    recommendations: list[str]


class SloItem(ApiModel):
    status: Literal["compliant", "violation"]
    actual: float
    target: float


class SloCompliance(ApiModel):
    latency: SloItem
    availability: SloItem
    throughput: SloItem


class DaoEvaluation(ApiModel):
    dao_id: str
    performance_score: float
    slo_compliance: SloCompliance
    isolation_recommendation: Literal[
        "none", "performance_monitoring", "traffic_throttling", "immediate_isolation"
    ]
    error_budget_burn: float
    impact_assessment: RiskLevel
    reason: str


# ---------------------------------------------------------------------------------- validation

M = TypeVar("M", bound=BaseModel)


def request_problems(exc: PydanticValidationError) -> list[FieldProblem]:
    """One problem per error, each naming its camelCase field path."""
    return problems_from(exc)


def parse_request(
    model: type[M], data: Mapping[str, Any] | str | bytes, source: str = "request"
) -> M:
    """Validate a dict or JSON text into ``model``; raises ``ValidationError`` naming each field."""
    try:
        if isinstance(data, str | bytes):
            return model.model_validate_json(data)
        return model.model_validate(dict(data))
    except PydanticValidationError as exc:
        raise ValidationError(source=source, problems=request_problems(exc)) from None
