from __future__ import annotations

import pytest

from ecoperf_core.engines.golive import (
    GoLiveInputs,
    LatencyWindow,
    evaluate_readiness,
    forecast_cost,
)
from ecoperf_core.models import GoLiveReadiness
from ecoperf_core.policy import policy_from_mapping

POLICY = policy_from_mapping({"golive": {"modules": {"qwallet": {"monthly_budget": 3000.0}}}})


def ready_inputs(**kw: object) -> GoLiveInputs:
    values: dict = {
        "module": "qwallet",
        "environment": "production",
        "read_p99_ms": [150.0] * 45,
        "complex_write_p99_ms": [250.0] * 45,
        "errors_7d": 10,
        "requests_7d": 1_000_000,
        "cache_hit_rate": 0.9,
        "cache_lookups": 10_000,
        "daily_costs": [50.0] * 14,  # 1,500 a month of a 3,000 budget
        "peak_rps": 600.0,
        "capacity_rps": 1000.0,
    }
    values.update(kw)
    return GoLiveInputs(**values)


def status(**kw: object) -> tuple[str, dict]:
    out = evaluate_readiness(ready_inputs(**kw), POLICY).output
    return out["overallStatus"], out["gates"]


def test_all_gates_pass_gives_ready_in_spec_shape() -> None:
    decision = evaluate_readiness(ready_inputs(), POLICY)
    out = GoLiveReadiness.model_validate(decision.output).to_payload()
    assert out["overallStatus"] == "ready" and decision.outcome == "ready"
    assert set(out["gates"]) == {"latency", "errorBudget", "cache", "cost", "capacity"}
    for gate in out["gates"].values():
        assert gate["passed"] is True and gate["message"] and gate["measured"] is not None
    assert out["blockers"] == [] and out["recommendations"] == []
    assert decision.subject == "qwallet@production"


@pytest.mark.parametrize(
    ("kw", "gate", "expected"),
    [
        ({"read_p99_ms": [150.0] * 44 + [200.0]}, "latency", "passed"),  # exactly 200
        ({"read_p99_ms": [150.0] * 44 + [200.1]}, "latency", "failed"),
        ({"read_p99_ms": [500.0] * 10 + [150.0] * 30}, "latency", "passed"),  # old spike
        ({"complex_write_p99_ms": [300.0] * 30}, "latency", "passed"),
        ({"complex_write_p99_ms": [300.5] * 30}, "latency", "failed"),
        ({"read_p99_ms": [150.0] * 29}, "latency", "insufficient_data"),
        ({"read_p99_ms": LatencyWindow(190.0, 30)}, "latency", "passed"),
        ({"read_p99_ms": LatencyWindow(190.0, 20)}, "latency", "insufficient_data"),
        ({"cache_hit_rate": 0.85}, "cache", "passed"),
        ({"cache_hit_rate": 0.8499}, "cache", "failed"),
        ({"cache_lookups": 5}, "cache", "insufficient_data"),
        ({"peak_rps": 700.0}, "capacity", "passed"),  # exactly 30% headroom
        ({"peak_rps": 701.0}, "capacity", "failed"),
        ({"capacity_rps": None}, "capacity", "insufficient_data"),
        # 0.1% SLO budget; 7/30 of a month: burn < 10% needs error ratio < 0.000428...
        ({"errors_7d": 428, "requests_7d": 1_000_000}, "errorBudget", "passed"),
        ({"errors_7d": 429, "requests_7d": 1_000_000}, "errorBudget", "failed"),
        ({"requests_7d": 10, "errors_7d": 0}, "errorBudget", "insufficient_data"),
        ({"daily_costs": [50.0] * 6}, "cost", "insufficient_data"),
        ({"daily_costs": [79.0] * 10}, "cost", "passed"),  # 2,370 = 79% of 3,000
        ({"daily_costs": [80.0] * 10}, "cost", "failed"),  # exactly 80%: not < 80%
    ],
)
def test_gate_edges(kw: dict, gate: str, expected: str) -> None:
    overall, gates = status(**kw)
    assert gates[gate]["status"] == expected
    assert gates[gate]["passed"] is (expected == "passed")
    assert overall == {"passed": "ready", "failed": "blocked"}.get(expected, "insufficient_data")


def test_cost_uses_the_trend_not_the_last_value() -> None:
    # a ramp from 20 to 72 a day: the last day (72 x 30 = 2,160) looks fine, the trend does not
    ramp = [20.0 + 4.0 * i for i in range(14)]
    overall, gates = status(daily_costs=ramp)
    assert gates["cost"]["status"] == "failed" and overall == "blocked"
    total, slope, _ = forecast_cost(ramp, 30)
    assert slope == pytest.approx(4.0)
    assert total == pytest.approx(sum(20.0 + 4.0 * i for i in range(14, 44)))
    # a falling trend is forecast to fall, floored at zero
    total, _, _ = forecast_cost([100.0 - 10 * i for i in range(8)], 30)
    assert total == pytest.approx(20.0 + 10.0)  # then 0 every day


def test_no_budget_is_insufficient_never_a_pass() -> None:
    out = evaluate_readiness(ready_inputs(module="unbudgeted"), POLICY).output
    assert out["gates"]["cost"]["status"] == "insufficient_data"
    assert out["overallStatus"] == "insufficient_data"


def test_no_data_at_all_is_insufficient() -> None:
    out = evaluate_readiness(GoLiveInputs("qwallet", "staging"), POLICY).output
    assert out["overallStatus"] == "insufficient_data"
    assert all(not g["passed"] for g in out["gates"].values())
    assert len(out["recommendations"]) == 5


def test_failure_wins_over_missing_data() -> None:
    out = evaluate_readiness(ready_inputs(cache_hit_rate=0.5, peak_rps=None), POLICY).output
    assert out["overallStatus"] == "blocked"
    assert out["blockers"] == [f"cache: {out['gates']['cache']['message']}"]


def test_module_overrides() -> None:
    policy = policy_from_mapping(
        {"golive": {"modules": {"qwallet": {"monthly_budget": 3000.0, "read_p99_ms": 140.0}}}}
    )
    out = evaluate_readiness(ready_inputs(), policy).output
    assert out["gates"]["latency"]["status"] == "failed"
    assert out["gates"]["latency"]["threshold"] == 140.0


def test_rejects_bad_series() -> None:
    with pytest.raises(ValueError, match="read p99"):
        evaluate_readiness(ready_inputs(read_p99_ms=[float("nan")] * 30), POLICY)
