from __future__ import annotations

import pytest

from ecoperf_core.engines.dao import DaoInputs, evaluate_dao, evaluate_daos
from ecoperf_core.models import DaoEvaluation, DaoSubnetRequest, parse_request
from ecoperf_core.policy import policy_from_mapping


def dao(dao_id: str = "d", **kw: float) -> DaoInputs:
    values = {
        "latency_p99_ms": 150.0,
        "availability_pct": 100.0,
        "throughput_rps": 20.0,
        "error_rate": 0.0,
    }
    values.update(kw)
    return DaoInputs(dao_id, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("burn", "tier", "impact"),
    [
        (0.0, "none", "low"),
        (0.99, "none", "low"),
        (1.0, "performance_monitoring", "moderate"),
        (5.99, "performance_monitoring", "moderate"),
        (6.0, "traffic_throttling", "high"),
        (14.39, "traffic_throttling", "high"),
        (14.4, "immediate_isolation", "critical"),
        (30.0, "immediate_isolation", "critical"),
    ],
)
def test_burn_tiers(burn: float, tier: str, impact: str) -> None:
    d = evaluate_dao(dao(burn_rate_long=burn, burn_rate_short=burn))
    assert d.outcome == tier
    assert d.output["isolationRecommendation"] == tier
    assert d.output["impactAssessment"] == impact
    assert d.output["errorBudgetBurn"] == burn


def test_multi_window_needs_both_windows() -> None:
    d = evaluate_dao(dao(burn_rate_long=20.0, burn_rate_short=2.0))
    assert d.outcome == "performance_monitoring"
    assert d.evidence["burnSource"] == "multi_window_min"


def test_snapshot_burn_from_error_rate_and_uptime() -> None:
    d = evaluate_dao(dao(error_rate=0.0144))  # 0.0144 / 0.001
    assert d.output["errorBudgetBurn"] == pytest.approx(14.4)
    assert d.outcome == "immediate_isolation"
    d2 = evaluate_dao(dao(availability_pct=99.0))  # 1% down / 0.1% budget = 10
    assert d2.output["errorBudgetBurn"] == pytest.approx(10.0)
    assert d2.outcome == "traffic_throttling"


def test_slo_violation_without_burn_is_monitored() -> None:
    d = evaluate_dao(dao(latency_p99_ms=250.0))
    assert d.outcome == "performance_monitoring"
    assert d.output["sloCompliance"]["latency"] == {
        "status": "violation",
        "actual": 250.0,
        "target": 200.0,
    }
    assert d.output["performanceScore"] == pytest.approx(92.0)  # 100 x (0.4 x 0.8 + 0.6)


def test_compliance_edges_inclusive() -> None:
    d = evaluate_dao(dao(latency_p99_ms=200.0, availability_pct=99.9, throughput_rps=10.0))
    assert all(v["status"] == "compliant" for v in d.output["sloCompliance"].values())
    assert d.output["performanceScore"] == 100.0


def test_per_dao_targets_from_policy() -> None:
    policy = policy_from_mapping({"dao": {"daos": {"strict": {"latency_p99_ms": 100.0}}}})
    assert evaluate_dao(dao("strict", latency_p99_ms=150.0), policy).outcome != "none"
    assert evaluate_dao(dao("other", latency_p99_ms=150.0), policy).outcome == "none"


def test_spec_example_payload() -> None:
    request = parse_request(
        DaoSubnetRequest,
        {
            "daoId": "dao-123",
            "subnetMetrics": {
                "latency": {"p99": 190},
                "availability": {"uptime": 99.8},
                "throughput": {"rps": 15},
                "errorRate": 0.005,
            },
        },
    )
    out = DaoEvaluation.model_validate(
        evaluate_dao(DaoInputs.from_request(request)).output
    ).to_payload()
    assert {
        "daoId",
        "performanceScore",
        "sloCompliance",
        "isolationRecommendation",
        "errorBudgetBurn",
        "impactAssessment",
    } <= set(out)
    assert out["sloCompliance"]["availability"]["status"] == "violation"
    assert out["sloCompliance"]["latency"]["status"] == "compliant"
    assert out["sloCompliance"]["throughput"] == {
        "status": "compliant",
        "actual": 15.0,
        "target": 10.0,
    }
    assert out["errorBudgetBurn"] == pytest.approx(5.0)
    assert out["isolationRecommendation"] == "performance_monitoring"
    assert out["performanceScore"] == pytest.approx(80.0)


def test_isolation_cap_downgrades_the_rest() -> None:
    daos = [dao(f"d{i}", burn_rate_long=15.0 + i, burn_rate_short=15.0 + i) for i in range(4)]
    daos.append(dao("calm"))
    out = {d.subject: d for d in evaluate_daos(daos)}  # max_isolated = 2
    assert out["d3"].outcome == out["d2"].outcome == "immediate_isolation"
    assert out["d1"].outcome == out["d0"].outcome == "traffic_throttling"
    assert "isolation cap" in out["d0"].output["reason"]
    assert out["d0"].evidence["cappedFromIsolation"] is True
    assert out["calm"].outcome == "none"
    # already isolated DAOs keep their slot; one isolated elsewhere takes a slot too
    kept = {d.subject: d.outcome for d in evaluate_daos(daos, currently_isolated={"d0", "zz"})}
    assert kept["d0"] == "immediate_isolation"
    assert [k for k, v in kept.items() if v == "immediate_isolation"] == ["d0"]


def test_validation() -> None:
    with pytest.raises(ValueError, match=r"availability\.uptime"):
        evaluate_dao(dao(availability_pct=101.0))
    with pytest.raises(ValueError, match="errorRate"):
        evaluate_dao(dao(error_rate=float("inf")))
