from __future__ import annotations

import pytest

from ecoperf_core.engines.qflow import OperationInputs, evaluate_operation
from ecoperf_core.models import PolicyCheckRequest, PolicyEvaluation, parse_request


def op(**kw: object) -> OperationInputs:
    base: dict = {"operation_id": "op", "type": "read"}
    base.update(kw)
    return OperationInputs(**base)


# (inputs, decision, reason, riskLevel, rule)
CASES = [
    ({}, "proceed", "healthy", "low", "R7"),
    ({"estimated_latency_ms": 100.0}, "proceed", "healthy", "low", "R7"),
    ({"estimated_latency_ms": 160.0}, "proceed", "risk_accepted", "moderate", "R8"),  # 0.8
    ({"estimated_latency_ms": 200.0}, "proceed", "risk_accepted", "moderate", "R8"),  # 1.0
    (
        {"estimated_latency_ms": 201.0, "cache_available": True, "cache_hit_rate": 0.9},
        "cache_fallback",
        "high_latency_risk",
        "high",
        "R2",
    ),
    (
        {"estimated_latency_ms": 201.0, "cache_available": True, "cache_hit_rate": 0.4},
        "proceed",
        "risk_accepted",
        "high",
        "R8",
    ),
    (
        {"estimated_latency_ms": 201.0, "priority": "low"},
        "queue_deferral",
        "high_latency_risk_no_cache",
        "high",
        "R6",
    ),
    ({"estimated_latency_ms": 400.0}, "proceed", "risk_accepted", "critical", "R8"),
    ({"slo_violation": True}, "queue_deferral", "slo_violation", "high", "R4"),
    (
        {"slo_violation": True, "cache_available": True},
        "cache_fallback",
        "slo_violation",
        "high",
        "R3",
    ),
    ({"error_budget_burn": 5.99}, "proceed", "risk_accepted", "moderate", "R8"),
    ({"error_budget_burn": 6.0}, "queue_deferral", "error_budget_burn", "high", "R4"),
    ({"error_budget_burn": 1.0}, "proceed", "risk_accepted", "moderate", "R8"),
    (
        {"error_budget_burn": 14.4, "priority": "high"},
        "queue_deferral",
        "critical_risk",
        "critical",
        "R5",
    ),
    ({"error_budget_burn": 10.0, "priority": "high"}, "proceed", "risk_accepted", "high", "R8"),
    (
        {"slo_violation": True, "error_budget_burn": 50.0, "priority": "critical"},
        "proceed",
        "critical_priority",
        "critical",
        "R1",
    ),
    # writes never fall back to a cache
    (
        {"type": "write", "slo_violation": True, "cache_available": True},
        "queue_deferral",
        "slo_violation",
        "high",
        "R4",
    ),
    # complexity scales the estimate: 150 ms x 1.5 = 225 > 200
    (
        {"estimated_latency_ms": 150.0, "complexity": "high", "priority": "low"},
        "queue_deferral",
        "high_latency_risk_no_cache",
        "high",
        "R6",
    ),
]


@pytest.mark.parametrize(("inputs", "decision", "reason", "risk", "rule"), CASES)
def test_rule_table(inputs: dict, decision: str, reason: str, risk: str, rule: str) -> None:
    d = evaluate_operation(op(**inputs))
    assert (d.output["decision"], d.output["reason"], d.output["riskLevel"]) == (
        decision,
        reason,
        risk,
    )
    assert d.evidence["rule"] == rule
    assert d.outcome == decision


@pytest.mark.parametrize("op_type", ["read", "write"])
@pytest.mark.parametrize("complexity", ["low", "medium", "high"])
def test_critical_priority_is_never_deferred(op_type: str, complexity: str) -> None:
    for burn in (0.0, 6.0, 100.0):
        for slo in (False, True):
            d = evaluate_operation(
                op(
                    type=op_type,
                    complexity=complexity,
                    priority="critical",
                    slo_violation=slo,
                    error_budget_burn=burn,
                    estimated_latency_ms=10_000.0,
                )
            )
            assert d.output["decision"] != "queue_deferral"


def test_spec_example_payload() -> None:
    request = parse_request(
        PolicyCheckRequest,
        {
            "operation": {
                "id": "user-profile-update",
                "type": "write",
                "params": {"complexity": "medium"},
            },
            "context": {"userId": "user123", "priority": "normal"},
        },
    )
    decision = evaluate_operation(
        OperationInputs.from_request(request, slo_violation=True, estimated_latency_ms=350.0)
    )
    out = PolicyEvaluation.model_validate(decision.output).to_payload()
    assert {"decision", "reason", "riskLevel", "alternatives"} <= set(out)
    assert out["decision"] == "queue_deferral" and out["riskLevel"] == "high"
    assert out["alternatives"][0] == "retry_after_recovery"
    cached = evaluate_operation(
        op(estimated_latency_ms=300.0, cache_available=True, cache_hit_rate=0.95)
    ).output
    assert cached["alternatives"] == ["use_cached_result", "simplified_operation"]


def test_request_validation_names_fields() -> None:
    from ecoperf_core.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        parse_request(
            PolicyCheckRequest,
            {"operation": {"id": "x", "type": "delete"}, "context": {"priority": "urgent"}},
        )
    text = str(err.value)
    assert "operation.type" in text and "context.priority" in text
