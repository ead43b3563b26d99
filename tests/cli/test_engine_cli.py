"""The spec's engine commands through the real CLI, on the demo warehouse: each spec example
payload gives a decision of the spec's shape, unknown ids name themselves, exit codes hold."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.cli.common import ExitCode
from tests.evaluation.demo_warehouse import demo_home

runner = CliRunner()

# The spec's request bodies, verbatim.
NODE_SCORE = {
    "nodeId": "node-1",
    "nodeMetrics": {
        "latency": {"p99": 180, "p95": 120},
        "errorRate": 0.002,
        "capacity": {"utilization": 0.65},
    },
}
POLICY_CHECK = {
    "operation": {"id": "user-profile-update", "type": "write", "params": {"complexity": "medium"}},
    "context": {"userId": "user123", "priority": "normal"},
}
RISK = {
    "entityId": "user123",
    "performanceData": {
        "latency": {"p99": 250, "trend": "increasing"},
        "errorRate": 0.008,
        "costMetrics": {"current": 150, "historical": [100, 105, 110, 120, 135, 145, 150]},
    },
}
GATE = {
    "deploymentMetrics": {
        "deploymentId": "v2.1.0",
        "p95Latency": 165,
        "p99Latency": 220,
        "errorRate": 0.003,
        "cacheHitRate": 0.82,
    },
    "baseline": {"p95Latency": 150, "p99Latency": 200, "errorRate": 0.002, "cacheHitRate": 0.85},
}
DAO = {
    "daoId": "dao-123",
    "subnetMetrics": {
        "latency": {"p99": 190},
        "availability": {"uptime": 99.8},
        "throughput": {"rps": 15},
        "errorRate": 0.005,
    },
}

# The keys of the spec's response examples (nodeScore, policyEvaluation, riskSignal, ...).
NODE_KEYS = {
    "latencyScore",
    "errorRateScore",
    "capacityScore",
    "regressionScore",
    "overallScore",
    "recommendation",
}
POLICY_KEYS = {"decision", "reason", "riskLevel", "alternatives"}
RISK_KEYS = {"entityId", "riskLevel", "riskScore", "signals", "correlations"}
GATE_KEYS = {"deployment", "passed", "violations", "recommendation"}
READINESS_KEYS = {"module", "environment", "overallStatus", "gates", "blockers", "recommendations"}
DAO_KEYS = {
    "daoId",
    "performanceScore",
    "sloCompliance",
    "isolationRecommendation",
    "errorBudgetBurn",
    "impactAssessment",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = demo_home(tmp_path_factory.mktemp("cli-home"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(target))
        yield target


def _json(args: list[str], code: int = ExitCode.OK) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_each_spec_request_payload_gives_a_decision_of_the_specs_shape(
    home: Path, tmp_path: Path
) -> None:
    node = _json(["qnet", "--payload", json.dumps(NODE_SCORE)])
    assert set(node) >= NODE_KEYS and node["nodeId"] == "node-1"
    assert node["recommendation"] in ("high_performing", "healthy", "degraded", "failing")
    assert node["routingWeight"] in (1.2, 1.0, 0.5, 0.1)

    check = _json(["qflow", "--payload", json.dumps(POLICY_CHECK)])
    assert set(check) >= POLICY_KEYS
    assert check["decision"] in ("proceed", "queue_deferral", "cache_fallback")
    assert check["riskLevel"] in ("low", "moderate", "high", "critical")

    risk = _json(["qerberos", "--payload", json.dumps(RISK)])
    assert set(risk) >= RISK_KEYS and 0 <= risk["riskScore"] <= 100
    assert all({"type", "severity"} <= set(s) for s in risk["signals"])
    [correlation] = risk["correlations"]
    assert correlation["type"] == "cost_performance_correlation"
    assert {"costIncrease", "suspicion"} <= set(correlation)

    payload_file = tmp_path / "gate.json"
    payload_file.write_text(json.dumps(GATE))
    gate = _json(["cicd", "--metrics", f"@{payload_file}"])
    # The spec's criteria pass this payload (p95 at exactly 110%, p99 at 110% of baseline).
    assert set(gate) >= GATE_KEYS and gate["passed"] is True and gate["violations"] == []

    dao = _json(["dao", "--payload", json.dumps(DAO)])
    assert set(dao) >= DAO_KEYS
    for slo in ("latency", "availability", "throughput"):
        assert {"status", "actual", "target"} <= set(dao["sloCompliance"][slo])
    assert dao["sloCompliance"]["availability"]["status"] == "violation"
    assert dao["isolationRecommendation"] != "none"

    # GET /go-live/readiness/qwallet?environment=production has no body: read the warehouse.
    ready = _json(["go-live", "--readiness", "qwallet", "--environment", "production"])
    assert set(ready) >= READINESS_KEYS
    assert set(ready["gates"]) == {"latency", "errorBudget", "cache", "cost", "capacity"}
    assert all({"passed", "message"} <= set(g) for g in ready["gates"].values())

    weights = _json(["qnet", "--weights", "--nodes", '[{"id":"node-01"},{"id":"node-17"}]'])
    assert list(weights["weights"]) == ["node-01", "node-17"]
    assert all(set(n) >= NODE_KEYS for n in weights["nodes"])
    assert weights["weights"]["node-17"] < 1.0 <= weights["weights"]["node-01"]


def test_commands_read_the_warehouse_for_ids(home: Path) -> None:
    assert _json(["qnet", "--score", "node-17"])["routingWeight"] < 1.0
    assert _json(["dao", "--subnet", "dao-07"])["isolationRecommendation"] != "none"
    assert _json(["dao", "--subnet", "dao-01"])["isolationRecommendation"] == "none"
    assert _json(["qerberos", "--risk", "user-013"])["riskLevel"] != "low"
    check = _json(
        ["qflow", "--check", "user-profile-read", "--type", "read", "--priority", "critical"]
    )
    assert check["decision"] == "proceed" and check["reason"] == "critical_priority"
    everyone = _json(["qnet", "--weights"])
    assert len(everyone["weights"]) == 50 and everyone["fleet"]["panic"] is False


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["qnet", "--score", "node-1"], "'node-1'"),
        (["qnet", "--weights", "--nodes", '[{"id":"node-1"},{"id":"node-2"}]'], "'node-2'"),
        (["qflow", "--check", "user-update", "--type", "write"], "'user-update'"),
        (["qerberos", "--risk", "user123"], "'user123'"),
        (["cicd", "--gate", "v9.9.9"], "'v9.9.9'"),
        (["go-live", "--readiness", "qwallet", "--environment", "staging"], "'staging'"),
        (["dao", "--subnet", "dao-123"], "'dao-123'"),
    ],
)
def test_the_specs_cli_examples_with_unknown_ids_exit_3_naming_the_id(
    home: Path, args: list[str], named: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.UNAVAILABLE, result.stdout
    assert named in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["qnet", "--payload", '{"nodeId": "n", "nodeMetrics": {}}'], "nodeMetrics.latency"),
        (
            [
                "qnet",
                "--payload",
                json.dumps(
                    {
                        **NODE_SCORE,
                        "nodeMetrics": {
                            **NODE_SCORE["nodeMetrics"],
                            "latency": {"p95": 300, "p99": 200},
                        },
                    }
                ),
            ],
            "nodeMetrics.latency",
        ),
        (["qflow", "--check", "user-profile-read", "--type", "delete"], "operation.type"),
        (["qflow", "--payload", "{not json"], "JSON"),
        (["cicd", "--metrics", "@/nonexistent/gate.json"], "--metrics"),
        (["dao", "--payload", json.dumps({**DAO, "extra": 1})], "extra"),
        (["qnet", "--weights", "--nodes", "[1]"], "--nodes[0]"),
        (["qnet"], "--weights"),
        (["qflow", "--check", "user-profile-read"], "--type"),
    ],
)
def test_bad_input_exits_2_naming_what_is_wrong(home: Path, args: list[str], named: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.BAD_INPUT, (result.stdout, result.stderr)
    assert named in result.stderr


def test_the_gate_blocks_from_the_warehouse_with_exit_1_and_writes_ci_reports(
    home: Path, tmp_path: Path
) -> None:
    junit, markdown = tmp_path / "gate.xml", tmp_path / "gate.md"
    result = runner.invoke(
        app, ["cicd", "--gate", "v2.1.0", "--junit", str(junit), "--markdown", str(markdown)]
    )
    assert result.exit_code == ExitCode.FAILED, result.stderr
    assert "P99 latency" in result.stdout and "blocked" in result.stdout
    assert "v2.0.9" in result.stdout  # the default baseline, named
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "4"
    failures = [case.find("failure") for case in suite.iter("testcase")]
    assert any(f is not None and f.get("type") == "p99_latency_degradation" for f in failures)
    assert "❌ blocked" in markdown.read_text() and "| P99 latency (ms) |" in markdown.read_text()

    same = _json(["cicd", "--gate", "v2.0.9", "--baseline", "v2.0.9"])
    assert same["passed"] is True and same["recommendation"] == "proceed"


def test_go_live_exits_1_unless_ready(home: Path) -> None:
    blocked = _json(
        ["go-live", "--readiness", "qdrive", "--environment", "production"], ExitCode.FAILED
    )
    assert blocked["overallStatus"] == "blocked" and blocked["gates"]["cost"]["passed"] is False
    assert any(b.startswith("cost:") for b in blocked["blockers"])
    ready = _json(["go-live", "--readiness", "qmail", "--environment", "production"])
    assert ready["overallStatus"] == "ready"


def test_on_demand_evaluations_are_in_the_decision_log(home: Path) -> None:
    runner.invoke(app, ["cicd", "--gate", "v2.1.0"])
    rows = _json(["decisions", "--engine", "cicd", "--subject", "v2.1.0", "--limit", "1"])
    [row] = rows
    assert row["outcome"] == "block_deployment" and row["evidence"]["trigger"] == "on_demand"
    assert row["inputs"]["candidate"]["p99_latency"] > row["inputs"]["baseline"]["p99_latency"]
    assert row["thresholds"]["p99_ratio_max"] == 1.15 and row["policy_version"]
    payload_rows = _json(["decisions", "--subject", "dao-123"])
    assert payload_rows and payload_rows[0]["evidence"]["trigger"] == "payload"
    table = runner.invoke(app, ["decisions", "--engine", "cicd", "-n", "3"])
    assert table.exit_code == 0 and "block_deployment" in table.stdout


def test_without_a_warehouse_commands_exit_3_saying_what_to_do(eco_home: Path) -> None:
    for args in (["qnet", "--score", "node-1"], ["decisions"], ["go-live", "--readiness", "m"]):
        result = runner.invoke(app, args)
        assert result.exit_code == ExitCode.UNAVAILABLE, (args, result.stderr)
        assert "ecosystem-perf demo" in result.stderr
