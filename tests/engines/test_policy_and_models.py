from __future__ import annotations

from pathlib import Path

import pytest

from ecoperf_core.errors import ValidationError
from ecoperf_core.models import DaoSubnetRequest, GateCheckRequest, NodeScoreRequest, parse_request
from ecoperf_core.policy import (
    DEFAULT_POLICY,
    Policy,
    PolicyError,
    load_policy,
    parse_policy,
)

REPO_POLICY = Path(__file__).resolve().parents[2] / "data" / "policy.toml"


def test_shipped_file_is_the_spec_defaults() -> None:
    policy = load_policy(REPO_POLICY)
    assert policy == Policy()
    assert policy.version == DEFAULT_POLICY.version and len(policy.version) == 12
    assert policy.qnet.bands.upper == 0.9 and policy.qnet.fleet.panic_threshold == 0.5
    assert policy.cicd.p95_ratio_max == 1.10 and policy.cicd.error_rate_ratio_max == 2.0
    assert policy.golive.read_p99_ms == 200 and policy.golive.steady_state_minutes == 30
    assert policy.dao.burn_tiers.isolation == 14.4 and policy.slo.objective == 0.999


def test_missing_default_file_means_defaults(eco_home: Path) -> None:
    assert load_policy() == DEFAULT_POLICY


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")


def test_version_changes_with_content_only() -> None:
    same = parse_policy("# a comment\n[cicd]\np95_ratio_max = 1.1\n")
    assert same.version == DEFAULT_POLICY.version
    changed = parse_policy("[cicd]\np95_ratio_max = 1.2\n")
    assert changed.version != DEFAULT_POLICY.version
    assert changed.cicd.p95_ratio_max == 1.2 and changed.cicd.p99_ratio_max == 1.15


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[qnet.weights]\nlatency = -0.1\n", "qnet.weights.latency: must be ≥ 0 (got -0.1)"),
        ('[cicd]\np95_ratio_max = "abc"\n', "cicd.p95_ratio_max: expected a number, got 'abc'"),
        ("[qnet]\nlatency_target = 1\n", "qnet.latency_target: unknown key"),
        ("[qnet.weights]\nlatency = 0.5\n", "qnet.weights: weights must sum to 1 (got 1.1)"),
        ("[qnet.bands]\nmiddle = 0.95\n", "qnet.bands: edges must satisfy lower < middle < upper"),
        (
            "[golive]\nsteady_state_minutes = 30.5\n",
            "golive.steady_state_minutes: expected a whole",
        ),
        ("[qnet]\nshadow = 1\n", "qnet.shadow: expected true or false, got 1"),
        ("[slo]\nobjective = 1.0\n", "slo.objective: must be < 1 (got 1.0)"),
        ("[dao.daos.d1]\nlatency_p99_ms = 0\n", "dao.daos.d1.latency_p99_ms: must be > 0"),
        (
            "[qflow]\ncache_fallback_types = ['delete']\n",
            "qflow.cache_fallback_types.0: expected one",
        ),
        ("[dao]\nburn_tiers = 3\n", "dao.burn_tiers: expected a table, got 3"),
        ("[cicd\n", "not valid TOML"),
    ],
)
def test_policy_errors_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "policy.toml")
    assert expected in str(err.value)
    assert str(err.value).startswith("policy.toml: invalid policy")


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy("[qnet]\nfoo = 1\n[cicd]\np99_ratio_max = -1\n")
    assert {p.field for p in err.value.problems} == {"qnet.foo", "cicd.p99_ratio_max"}


NODE = {
    "nodeId": "n",
    "nodeMetrics": {
        "latency": {"p95": 120, "p99": 180},
        "errorRate": 0.002,
        "capacity": {"utilization": 0.65},
    },
}


def with_metrics(**changes: object) -> dict:
    data = {"nodeId": "n", "nodeMetrics": {**NODE["nodeMetrics"], **changes}}  # type: ignore[dict-item]
    return data


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (with_metrics(latency={"p95": -1, "p99": 180}), "nodeMetrics.latency.p95", "must be ≥ 0"),
        (with_metrics(latency={"p95": 200, "p99": 180}), "nodeMetrics.latency", "p95 (200"),
        (with_metrics(errorRate=1.5), "nodeMetrics.errorRate", "must be ≤ 1"),
        (with_metrics(errorRate=-0.1), "nodeMetrics.errorRate", "must be ≥ 0"),
        (with_metrics(errorRate=float("nan")), "nodeMetrics.errorRate", "finite"),
        (
            with_metrics(latency={"p95": 1, "p99": float("inf")}),
            "nodeMetrics.latency.p99",
            "finite",
        ),
        (with_metrics(errorRate="0.1"), "nodeMetrics.errorRate", "expected a number"),
        (with_metrics(capacity={"utilization": 2}), "nodeMetrics.capacity.utilization", "≤ 1"),
        (with_metrics(extra=1), "nodeMetrics.extra", "unknown key"),
        ({"nodeMetrics": NODE["nodeMetrics"]}, "nodeId", "required"),
    ],
)
def test_request_errors_name_the_field(data: dict, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_request(NodeScoreRequest, data)
    problems = {p.field: p.message for p in err.value.problems}
    assert field in problems and message in problems[field]


def test_json_text_and_nan_literal() -> None:
    text = '{"nodeId":"n","nodeMetrics":{"latency":{"p95":1,"p99":NaN},"errorRate":0,"capacity":{"utilization":0}}}'
    with pytest.raises(ValidationError, match=r"nodeMetrics\.latency\.p99"):
        parse_request(NodeScoreRequest, text)


def test_models_accept_both_spellings_and_dump_camel_case() -> None:
    r = parse_request(
        DaoSubnetRequest,
        {
            "dao_id": "d",
            "subnet_metrics": {
                "latency": {"p99": 1},
                "availability": {"uptime": 99.0},
                "throughput": {"rps": 1},
                "error_rate": 0.0,
            },
        },
    )
    assert r.to_payload()["subnetMetrics"]["errorRate"] == 0.0
    with pytest.raises(ValidationError, match=r"subnetMetrics\.availability\.uptime"):
        parse_request(
            DaoSubnetRequest,
            {
                "daoId": "d",
                "subnetMetrics": {
                    "latency": {"p99": 1},
                    "availability": {"uptime": 100.5},
                    "throughput": {"rps": 1},
                    "errorRate": 0.0,
                },
            },
        )


def test_gate_request_rejects_p95_above_p99() -> None:
    with pytest.raises(ValidationError, match="p95Latency"):
        parse_request(
            GateCheckRequest,
            {
                "deploymentMetrics": {
                    "deploymentId": "v",
                    "p95Latency": 300,
                    "p99Latency": 200,
                    "errorRate": 0.0,
                    "cacheHitRate": 0.9,
                },
                "baseline": {
                    "p95Latency": 1,
                    "p99Latency": 2,
                    "errorRate": 0.0,
                    "cacheHitRate": 0.9,
                },
            },
        )
