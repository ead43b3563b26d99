from __future__ import annotations

import pytest

from ecoperf_core.engines.qerberos import RiskInputs, assess_risk, cost_increase
from ecoperf_core.models import RiskAssessmentRequest, RiskSignal, parse_request


def risk(**kw: object) -> dict:
    values: dict = {"entity_id": "e", "latency_p99_ms": 100.0}
    values.update(kw)
    return assess_risk(RiskInputs(**values)).output


@pytest.mark.parametrize(
    ("kw", "score", "level"),
    [
        ({}, 0.0, "low"),
        ({"regression_count": 2, "error_rate": 0.0098}, 24.9, "low"),
        ({"regression_count": 2, "error_rate": 0.01}, 25.0, "moderate"),
        ({"regression_count": 3, "anomaly_count": 3}, 45.0, "moderate"),
        ({"regression_count": 3, "anomaly_count": 4}, 50.0, "high"),
        (
            {
                "regression_count": 5,
                "anomaly_count": 9,
                "utilization": 1.0,
                "latency_p99_ms": 400.0,
                "error_rate": 0.01,
            },
            80.0,
            "critical",
        ),
    ],
)
def test_level_edges(kw: dict, score: float, level: str) -> None:
    out = risk(**kw)
    assert out["riskScore"] == pytest.approx(score)
    assert out["riskLevel"] == level


def test_score_is_capped_at_100() -> None:
    out = risk(
        regression_count=9,
        anomaly_count=9,
        utilization=1.0,
        latency_p99_ms=1000.0,
        latency_trend="increasing",
        error_rate=0.5,
        cost_current=400.0,
        cost_historical=[100.0, 100.0, 100.0, 400.0],
    )
    assert out["riskScore"] == 100.0 and out["riskLevel"] == "critical"


def test_regression_signal_severity_from_count() -> None:
    sev = {n: risk(regression_count=n)["signals"][0]["severity"] for n in (1, 2, 3)}
    assert sev == {1: "medium", 2: "high", 3: "critical"}
    assert risk(regression_count=1, regression_severity="critical")["signals"][0]["severity"] == (
        "critical"
    )


def test_cost_rise_without_degradation_is_not_a_correlation() -> None:
    out = risk(cost_current=150.0, cost_historical=[100.0, 100.0, 120.0, 150.0])
    assert out["correlations"] == []
    assert out["signals"] == [
        {
            "type": "cost_correlation",
            "severity": "low",
            "costIncrease": 0.5,
            "suspicion": "cost_growth_without_degradation",
        }
    ]
    small = risk(cost_current=125.0, cost_historical=[100.0, 100.0], latency_trend="increasing")
    assert all(s["type"] != "cost_correlation" for s in small["signals"])


def test_cost_increase_baseline_is_older_half_median() -> None:
    assert cost_increase(150.0, [100, 105, 110, 120, 135, 145, 150]) == pytest.approx(150 / 105 - 1)
    assert cost_increase(150.0, []) is None
    assert cost_increase(None, [1.0]) is None
    assert cost_increase(5.0, [0.0, 0.0]) is None


def test_spec_example_payload() -> None:
    request = parse_request(
        RiskAssessmentRequest,
        {
            "entityId": "user123",
            "performanceData": {
                "latency": {"p99": 250, "trend": "increasing"},
                "errorRate": 0.008,
                "costMetrics": {
                    "current": 150,
                    "historical": [100, 105, 110, 120, 135, 145, 150],
                },
            },
        },
    )
    decision = assess_risk(RiskInputs.from_request(request))
    out = RiskSignal.model_validate(decision.output).to_payload()
    assert {"entityId", "riskLevel", "riskScore", "signals", "correlations"} <= set(out)
    assert 0 <= out["riskScore"] <= 100
    assert out["correlations"] == [
        {
            "type": "cost_performance_correlation",
            "costIncrease": pytest.approx(0.4286),
            "suspicion": "resource_abuse_or_inefficiency",
        }
    ]
    assert decision.outcome == out["riskLevel"] == "moderate"
    with_regressions = assess_risk(
        RiskInputs.from_request(
            request.model_copy(
                update={
                    "performance_data": request.performance_data.model_copy(
                        update={"regression_count": 3}
                    )
                }
            )
        )
    ).output
    assert with_regressions["riskLevel"] == "high"
    assert with_regressions["signals"][0] == {
        "type": "performance_regression",
        "severity": "critical",
        "count": 3,
        "impact": "service_degradation",
    }


def test_request_validation_names_fields() -> None:
    from ecoperf_core.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        parse_request(
            RiskAssessmentRequest,
            {
                "entityId": "u",
                "performanceData": {
                    "latency": {"p99": -5, "trend": "up"},
                    "errorRate": 2,
                    "costMetrics": {"current": 1, "historical": [1, -2]},
                },
            },
        )
    text = str(err.value)
    for field in (
        "performanceData.latency.p99",
        "performanceData.latency.trend",
        "performanceData.errorRate",
        "performanceData.costMetrics.historical.1",
    ):
        assert field in text
