from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from ecoperf_core.engines.qnet import (
    NodeInputs,
    WeightState,
    band_weight,
    band_weights,
    fleet_weights,
    node_score,
    score_node,
)
from ecoperf_core.models import NodeScoreRequest, parse_request
from ecoperf_core.policy import DEFAULT_POLICY, Policy, policy_from_mapping

# A policy whose overall score is the error-rate score alone: score = 1 - 50 * error_rate,
# so a test can aim at any exact score.
ERR_ONLY: Policy = policy_from_mapping(
    {"qnet": {"weights": {"latency": 0.0, "error_rate": 1.0, "capacity": 0.0, "regression": 0.0}}}
)


def node(node_id: str, score: float) -> NodeInputs:
    return NodeInputs(node_id, 100.0, 150.0, round((1.0 - score) / 50.0, 10), 0.4)


@pytest.mark.parametrize(
    ("score", "weight"),
    [
        (1.0, 1.2),
        (0.9001, 1.2),
        (0.9, 1.0),  # spec: 0.6 ≤ score ≤ 0.9 is normal
        (0.8999, 1.0),
        (0.6001, 1.0),
        (0.6, 1.0),
        (0.5999, 0.5),
        (0.3001, 0.5),
        (0.3, 0.5),  # spec: 0.3 ≤ score < 0.6 is degraded
        (0.2999, 0.1),
        (0.0, 0.1),
    ],
)
def test_band_edges(score: float, weight: float) -> None:
    assert band_weight(score) == weight
    assert band_weights(np.array([score]))[0] == weight
    decision = score_node(node("n", score), ERR_ONLY)
    assert decision.output["overallScore"] == pytest.approx(score)
    assert decision.output["routingWeight"] == weight
    assert decision.outcome == str(weight)


def test_spec_example_payload_gives_node_score_shape() -> None:
    request = parse_request(
        NodeScoreRequest,
        {
            "nodeId": "node-1",
            "nodeMetrics": {
                "latency": {"p99": 180, "p95": 120},
                "errorRate": 0.002,
                "capacity": {"utilization": 0.65},
            },
        },
    )
    payload = node_score(NodeInputs.from_request(request)).to_payload()
    for key in (
        "latencyScore",
        "errorRateScore",
        "capacityScore",
        "regressionScore",
        "overallScore",
        "recommendation",
    ):
        assert key in payload
    assert payload["recommendation"] == "healthy"
    assert payload["routingWeight"] == 1.0
    assert 0.6 <= payload["overallScore"] <= 0.9
    assert all(0.0 <= payload[k] <= 1.0 for k in ("latencyScore", "errorRateScore"))


def test_scores_fall_as_metrics_worsen_and_regressions_count() -> None:
    good = score_node(NodeInputs("a", 60, 90, 0.0, 0.3)).output
    assert good["overallScore"] == 1.0 and good["routingWeight"] == 1.2
    bad = score_node(NodeInputs("b", 400, 600, 0.05, 0.99)).output
    assert bad["overallScore"] < 0.3 and bad["recommendation"] == "failing"
    reg = score_node(NodeInputs("c", 60, 90, 0.0, 0.3, 2, "high")).output
    assert reg["regressionScore"] == pytest.approx(0.6)
    assert reg["overallScore"] == pytest.approx(0.96)


def test_decision_envelope_is_jsonable_and_names_policy() -> None:
    import json

    decision = score_node(node("n", 0.7))
    d = decision.to_dict()
    json.dumps(d)
    assert set(d) == {
        "engine",
        "subject",
        "outcome",
        "output",
        "inputs",
        "thresholds",
        "evidence",
        "policy_version",
    }
    assert d["engine"] == "qnet" and d["subject"] == "n"
    assert d["policy_version"] == DEFAULT_POLICY.version
    assert d["thresholds"]["bands"]["upper"] == 0.9


def run_series(scores: list[float], start: float = 1.0) -> list[float]:
    """Weights of one node (inside a healthy fleet) over successive evaluations."""
    others = [node(f"h{i}", 0.8) for i in range(9)]
    state = {"x": WeightState(start)}
    out = []
    for s in scores:
        result = fleet_weights([node("x", s), *others], ERR_ONLY, state)
        state = result.states()
        out.append(result.weights()["x"])
    return out


def test_hysteresis_no_flapping_around_an_edge() -> None:
    assert run_series([0.61, 0.59, 0.61, 0.59, 0.61, 0.59, 0.58, 0.62]) == [1.0] * 8


def test_hysteresis_changes_after_n_consecutive() -> None:
    assert run_series([0.58, 0.58, 0.58, 0.58]) == [1.0, 1.0, 0.5, 0.5]
    # a return into the band resets the count
    assert run_series([0.58, 0.58, 0.61, 0.58, 0.58]) == [1.0] * 5


def test_hysteresis_changes_at_once_beyond_margin() -> None:
    assert run_series([0.55]) == [0.5]  # exactly the margin (0.05) below 0.6
    assert run_series([0.56]) == [1.0]
    assert run_series([0.1]) == [0.1]
    # upwards: from degraded, 0.62 is only 0.02 past the 0.6 edge; 0.65 is the margin
    assert run_series([0.62, 0.62, 0.62], start=0.5) == [0.5, 0.5, 1.0]
    assert run_series([0.65], start=0.5) == [1.0]
    # from normal, up-weight needs score ≥ 0.95 at once or three evaluations above 0.9
    assert run_series([0.92, 0.92, 0.92]) == [1.0, 1.0, 1.2]
    assert run_series([0.95]) == [1.2]


def test_first_evaluation_takes_band_directly() -> None:
    result = fleet_weights([node("a", 0.95), *[node(f"h{i}", 0.8) for i in range(9)]], ERR_ONLY)
    assert result.weights()["a"] == 1.2


def test_fleet_cap_down_weights_worst_first() -> None:
    nodes = [node(f"h{i:02d}", 0.8) for i in range(15)]
    nodes += [node("d1", 0.5), node("d2", 0.2), node("d3", 0.4), node("d4", 0.45), node("d5", 0.1)]
    result = fleet_weights(nodes, ERR_ONLY)  # 20 nodes: at most 2 newly down-weighted
    w = result.weights()
    assert result.allowed_newly_down_weighted == 2 and result.held_by_cap == 3
    assert w["d5"] == 0.1 and w["d2"] == 0.1
    assert w["d1"] == w["d3"] == w["d4"] == 1.0
    assert "fleet cap" in result.frame.set_index("node_id").loc["d3", "reason"]
    assert not result.panic
    # the held nodes follow over the next evaluations, still worst first
    second = fleet_weights(nodes, ERR_ONLY, result.states())
    w2 = second.weights()
    assert w2["d3"] == 0.5 and w2["d4"] == 0.5 and w2["d1"] == 1.0
    third = fleet_weights(nodes, ERR_ONLY, second.states())
    assert third.weights()["d1"] == 0.5
    assert all(third.weights()[f"h{i:02d}"] == 1.0 for i in range(15))


def test_small_fleet_may_still_down_weight_one() -> None:
    result = fleet_weights([node("a", 0.8), node("b", 0.8), node("c", 0.2)], ERR_ONLY)
    assert result.weights()["c"] == 0.1


@pytest.mark.parametrize(("unhealthy", "panic"), [(4, False), (5, False), (6, True)])
def test_panic_mode_suspends_down_weighting(unhealthy: int, panic: bool) -> None:
    nodes = [node(f"u{i}", 0.2) for i in range(unhealthy)]
    nodes += [node(f"h{i}", 0.8) for i in range(10 - unhealthy)]
    data = ERR_ONLY.normalised()
    data["qnet"]["fleet"]["max_newly_down_weighted_share"] = 1.0
    policy = policy_from_mapping(data)
    result = fleet_weights(nodes, policy)
    assert result.panic is panic
    if panic:
        assert set(result.weights().values()) == {1.0}
        assert all("panic" in r for r in result.frame["reason"] if r.startswith("panic"))
        decision = result.decisions()[0]
        assert decision.evidence["fleet"]["panic"] is True
        assert decision.evidence["bandWeight"] == 0.1
    else:
        assert sum(w == 0.1 for w in result.weights().values()) == unhealthy


def test_panic_ends_and_down_weighting_resumes_under_cap() -> None:
    sick = [node(f"u{i}", 0.2) for i in range(6)] + [node(f"h{i}", 0.8) for i in range(4)]
    first = fleet_weights(sick, ERR_ONLY)
    assert first.panic
    recovered = [node(f"u{i}", 0.8 if i < 4 else 0.2) for i in range(6)]
    recovered += [node(f"h{i}", 0.8) for i in range(4)]
    second = fleet_weights(recovered, ERR_ONLY, first.states())
    assert not second.panic
    assert sorted(second.weights().values()).count(0.1) == 1  # cap: 1 of 10 per evaluation


def test_fleet_accepts_dataframe_and_rejects_bad_values() -> None:
    frame = pd.DataFrame(
        {
            "node_id": ["a", "b"],
            "p95_ms": [100.0, 120.0],
            "p99_ms": [150.0, 160.0],
            "error_rate": [0.0, 0.001],
            "utilization": [0.5, 0.6],
        }
    )
    assert set(fleet_weights(frame).weights()) == {"a", "b"}
    with pytest.raises(ValueError, match=r"nodes\['b'\]\.error_rate"):
        fleet_weights(frame.assign(error_rate=[0.0, float("nan")]))
    with pytest.raises(ValueError, match=r"nodes\['a'\]\.p95_ms: must not exceed p99_ms"):
        fleet_weights(frame.assign(p95_ms=[200.0, 120.0]))
    with pytest.raises(ValueError, match="utilization"):
        fleet_weights(frame.assign(utilization=[0.5, 1.5]))
    with pytest.raises(ValueError, match="more than once"):
        fleet_weights(frame.assign(node_id=["a", "a"]))


def test_ten_thousand_nodes_are_fast() -> None:
    rng = np.random.default_rng(7)
    n = 10_000
    p95 = rng.uniform(40, 400, n)
    frame = pd.DataFrame(
        {
            "node_id": [f"node-{i}" for i in range(n)],
            "p95_ms": p95,
            "p99_ms": p95 * 1.4,
            "error_rate": rng.uniform(0, 0.03, n),
            "utilization": rng.uniform(0, 1, n),
            "regression_count": rng.integers(0, 3, n),
        }
    )
    start = time.perf_counter()
    first = fleet_weights(frame)
    second = fleet_weights(frame, previous=first.states())
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert len(second.weights()) == n
    assert second.newly_down_weighted <= 1000


def test_single_node_path_equals_the_fleet_path() -> None:
    """score_node (the API's array path without a DataFrame) decides exactly as fleet_weights."""
    rng = np.random.default_rng(7)
    states = [None, WeightState(1.0), WeightState(0.5, 1.0, 1), WeightState(1.2, 0.5, 2)]
    for i in range(200):
        p95 = float(rng.uniform(10, 600))
        node = NodeInputs(
            node_id=f"n{i}",
            p95_ms=p95,
            p99_ms=p95 * float(rng.uniform(1.0, 2.5)),
            error_rate=float(rng.choice([0.0, rng.uniform(0, 0.2)])),
            utilization=float(rng.uniform(0, 1)),
            regression_count=int(rng.integers(0, 4)),
            regression_severity=str(rng.choice(["low", "medium", "high", "critical"])),  # type: ignore[arg-type]
        )
        previous = states[i % len(states)]
        single = score_node(node, DEFAULT_POLICY, previous)
        fleet = fleet_weights(
            [node], DEFAULT_POLICY, {node.node_id: previous}, fleet_guards=False
        ).decisions()[0]
        assert single.to_dict() == fleet.to_dict()


def test_single_node_path_refuses_bad_input_by_name() -> None:
    with pytest.raises(ValueError, match=r"nodes\['x'\]\.p95_ms: must not exceed p99_ms"):
        score_node(NodeInputs("x", 200.0, 100.0, 0.0, 0.5))
    with pytest.raises(ValueError, match=r"nodes\['x'\]\.error_rate: must be in \[0, 1\]"):
        score_node(NodeInputs("x", 100.0, 200.0, float("nan"), 0.5))
    with pytest.raises(ValueError, match=r"nodes\['x'\]\.utilization"):
        score_node(NodeInputs("x", 100.0, 200.0, 0.0, "high"))  # type: ignore[arg-type]
