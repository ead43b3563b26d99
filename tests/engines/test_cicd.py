from __future__ import annotations

import pytest

from ecoperf_core.engines.cicd import GateInputs, GateMetrics, evaluate_gate
from ecoperf_core.models import GateCheckRequest, PerformanceGate, parse_request

BASE = GateMetrics(p95_latency=100.0, p99_latency=200.0, error_rate=0.01, cache_hit_rate=1.0)


def gate(**candidate: float) -> dict:
    values = {"p95_latency": 100.0, "p99_latency": 200.0, "error_rate": 0.01, "cache_hit_rate": 1.0}
    values.update(candidate)
    return evaluate_gate(GateInputs("v1", GateMetrics(**values), BASE)).output


@pytest.mark.parametrize(
    ("candidate", "passed", "violation"),
    [
        ({"p95_latency": 110.0}, True, None),  # exactly 110%
        ({"p95_latency": 109.99}, True, None),
        ({"p95_latency": 110.01}, False, "p95_latency_degradation"),
        ({"p99_latency": 230.0}, True, None),  # exactly 115%
        ({"p99_latency": 230.01}, False, "p99_latency_degradation"),
        ({"cache_hit_rate": 0.9}, True, None),  # exactly 90% of baseline 1.0
        ({"cache_hit_rate": 0.9001}, True, None),
        ({"cache_hit_rate": 0.8999}, False, "cache_hit_rate_degradation"),
        ({"error_rate": 0.02}, True, None),  # exactly 200%
        ({"error_rate": 0.0201}, False, "error_rate_increase"),
    ],
)
def test_gate_edges(candidate: dict, passed: bool, violation: str | None) -> None:
    out = gate(**candidate)
    assert out["passed"] is passed
    assert out["recommendation"] == ("proceed" if passed else "block_deployment")
    assert [v["type"] for v in out["violations"]] == ([violation] if violation else [])


def test_edges_survive_floating_point() -> None:
    base = GateMetrics(150.0, 200.0, 0.002, 0.85)
    cand = GateMetrics(165.0, 230.0, 0.004, 0.85 * 0.9)
    assert evaluate_gate(GateInputs("v", cand, base)).output["passed"] is True


def test_zero_baseline_error_rate_uses_the_floor() -> None:
    base = GateMetrics(100.0, 200.0, 0.0, 0.9)
    ok = evaluate_gate(GateInputs("v", GateMetrics(100.0, 200.0, 0.002, 0.9), base))
    assert ok.output["passed"] and ok.evidence["errorRateFloorApplied"]
    bad = evaluate_gate(GateInputs("v", GateMetrics(100.0, 200.0, 0.0021, 0.9), base)).output
    assert bad["violations"][0]["type"] == "error_rate_increase"
    assert bad["violations"][0]["threshold"] == pytest.approx(0.002)
    assert bad["violations"][0]["baseline"] == 0.0


def test_violation_fields_and_severity() -> None:
    out = gate(p99_latency=240.0, p95_latency=200.0)
    by_type = {v["type"]: v for v in out["violations"]}
    assert by_type["p99_latency_degradation"] == {
        "type": "p99_latency_degradation",
        "current": 240.0,
        "baseline": 200.0,
        "threshold": 230.0,
        "severity": "medium",  # 4% past the threshold
    }
    assert by_type["p95_latency_degradation"]["severity"] == "critical"  # 82% past
    assert gate(p95_latency=130.0)["violations"][0]["severity"] == "high"


def test_spec_example_payload() -> None:
    request = parse_request(
        GateCheckRequest,
        {
            "deploymentMetrics": {
                "deploymentId": "v2.1.0",
                "p95Latency": 165,
                "p99Latency": 220,
                "errorRate": 0.003,
                "cacheHitRate": 0.82,
            },
            "baseline": {
                "p95Latency": 150,
                "p99Latency": 200,
                "errorRate": 0.002,
                "cacheHitRate": 0.85,
            },
        },
    )
    decision = evaluate_gate(GateInputs.from_request(request))
    out = PerformanceGate.model_validate(decision.output).to_payload()
    assert set(out) == {"deployment", "passed", "violations", "recommendation"}
    assert out["deployment"] == "v2.1.0"
    # Under the spec's own criteria the example passes: p95 165 is exactly 110% of 150.
    assert out["passed"] is True and decision.outcome == "proceed"
    blocked = request.model_copy(
        update={
            "deployment_metrics": request.deployment_metrics.model_copy(
                update={"p99_latency": 240.0}
            )
        }
    )
    assert evaluate_gate(GateInputs.from_request(blocked)).outcome == "block_deployment"


def test_engine_rejects_nan() -> None:
    with pytest.raises(ValueError, match=r"deploymentMetrics\.p95Latency"):
        evaluate_gate(GateInputs("v", GateMetrics(float("nan"), 1.0, 0.0, 0.5), BASE))
