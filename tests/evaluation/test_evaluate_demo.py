"""The evaluate flow on the demo warehouse: incidents found, healthy entities spared, decisions
logged with their explanation, events only on change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ecoperf_core.service import Ecoperf
from tests.evaluation.demo_warehouse import demo_home, policy

pytestmark = pytest.mark.usefixtures("prefect_runtime")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = demo_home(tmp_path_factory.mktemp("evaluate-home"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(target))
        yield target


@pytest.fixture(scope="module")
def first_run(home: Path, prefect_runtime: None) -> dict[str, Any]:
    """The real Prefect flow, once, on the untouched demo warehouse."""
    from flows.evaluate import evaluate_flow

    return evaluate_flow()


def _rows(home: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "ecoperf.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _counts(home: Path) -> dict[str, int]:
    return {
        table: _rows(home, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("decisions", "outbox", "latest_decisions")
    }


def test_the_incidents_are_found_and_healthy_entities_are_not_flagged(
    first_run: dict[str, Any],
) -> None:
    qnet = first_run["qnet"]
    assert qnet["nodes"] == 50
    assert [d["node"] for d in qnet["downWeighted"]] == ["node-17"]
    assert qnet["downWeighted"][0]["weight"] < 1.0

    dao = first_run["dao"]
    assert dao["daos"] == 10
    assert set(dao["recommendations"]) == {"dao-07"}  # every other DAO: none
    assert dao["recommendations"]["dao-07"] != "none"

    modules = first_run["golive"]["modules"]
    assert modules["qdrive@production"]["status"] == "blocked"
    assert "cost" in modules["qdrive@production"]["failed"]
    healthy = modules["qmail@production"]
    assert healthy["status"] == "ready"
    assert "cost" not in healthy["failed"] + healthy["insufficient"]

    risk = first_run["qerberos"]
    assert risk["entities"] == 70  # 20 users and 50 nodes
    assert risk["highest"][0]["entity"] == "user-013"
    assert risk["highest"][0]["riskLevel"] in ("moderate", "high", "critical")


def test_the_as_of_time_is_the_latest_data_not_the_wall_clock(first_run: dict[str, Any]) -> None:
    assert first_run["asOf"].startswith("2026-11-29T23:59")
    assert all(first_run[e]["asOf"] == first_run["asOf"] for e in ("qnet", "dao", "golive"))


def test_decisions_keep_inputs_thresholds_evidence_and_policy_version(
    home: Path, first_run: dict[str, Any]
) -> None:
    service = Ecoperf()
    [node] = service.decisions("qnet", "node-17", limit=1)
    assert node["outcome"] == "0.5" and node["policy_version"] == policy().version
    assert node["shadow"] is False
    assert {"p95Ms", "p99Ms", "errorRate", "utilization", "regressionCount"} <= set(node["inputs"])
    assert node["thresholds"]["bands"]["upper"] == 0.9
    evidence = node["evidence"]
    assert evidence["asOf"] == first_run["asOf"] and evidence["trigger"] == "scheduled"
    assert evidence["source"]["requests"] > 0 and evidence["reason"]
    assert node["inputs"]["regressionCount"] >= 1  # the step at 06:00 is a change point
    assert evidence["source"]["regression"]["maxRelativeChange"] > 0.5
    assert node["output"]["recommendation"] in ("degraded", "failing")

    [qdrive] = service.decisions("golive", "qdrive@production", limit=1)
    assert qdrive["output"]["gates"]["cost"]["status"] == "failed"
    assert (
        qdrive["evidence"]["cost"]["forecastMonthlyCost"]
        > qdrive["evidence"]["cost"]["monthlyBudget"]
    )
    assert len(qdrive["inputs"]["daily_costs"]) == 3
    assert qdrive["thresholds"]["effective"]["monthly_budget"] == pytest.approx(
        440 * 500_000 / 2_000_000
    )

    stored = sum(first_run[e]["stored"]["decisions"] for e in ("qnet", "qerberos", "dao", "golive"))
    assert stored == 50 + 70 + 10 + 5
    # The first evaluation of every subject is a change: one event each, in the same transaction.
    events = dict(_rows(home, "SELECT event_type, count(*) FROM outbox GROUP BY 1"))
    assert events == {
        "node_performance_update": 50,
        "risk_assessment_update": 70,
        "dao_isolation_update": 10,
        "go_live_update": 5,
    }
    seqs = [r[0] for r in _rows(home, "SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == sorted(set(seqs))


def test_an_unchanged_second_run_stores_nothing_and_reports_the_decisions_in_force(
    home: Path, first_run: dict[str, Any]
) -> None:
    from flows.evaluate import evaluate_flow

    before = _counts(home)
    again = evaluate_flow()
    assert _counts(home) == before
    for engine in ("qnet", "qerberos", "dao", "golive"):
        assert again[engine]["skipped"].startswith("no new data since the last evaluation")
    assert again["qnet"]["downWeighted"] == first_run["qnet"]["downWeighted"]
    assert again["dao"]["recommendations"] == first_run["dao"]["recommendations"]
    assert again["golive"]["modules"] == first_run["golive"]["modules"]


def test_reevaluating_unchanged_data_logs_decisions_but_no_events(
    home: Path, first_run: dict[str, Any]
) -> None:
    before = _counts(home)
    result = Ecoperf().evaluate_daos()  # not skipping: an explicit evaluation
    assert (result.stored.decisions, result.stored.events) == (10, 0)
    after = _counts(home)
    assert after["decisions"] == before["decisions"] + 10 and after["outbox"] == before["outbox"]


def test_a_changed_outcome_adds_one_event_with_the_previous_outcome(
    home: Path, first_run: dict[str, Any]
) -> None:
    service = Ecoperf()
    previous = first_run["dao"]["recommendations"]["dao-07"]
    max_seq = _rows(home, "SELECT max(seq) FROM outbox")[0][0]
    # Replay the evaluation in the middle of dao-07's availability drop (day 3, 08:00-14:00).
    during = service.evaluate_daos(as_of="2026-11-29T11:00:00")
    outcomes = {d.subject: d.outcome for d in during.decisions}
    assert outcomes["dao-07"] == "immediate_isolation"
    assert {s for s, o in outcomes.items() if o != "none"} == {"dao-07"}
    assert during.stored.events == 1
    _seq, event_type, subject, data, decision_id = _rows(
        home,
        "SELECT seq, event_type, subject, data, decision_id FROM outbox WHERE seq > ?",
        [max_seq],
    )[0]
    data = json.loads(data)
    assert (event_type, subject) == ("dao_isolation_update", "dao-07")
    assert data["type"] == "dao_isolation_update" and data["previousOutcome"] == previous
    assert data["outcome"] == "immediate_isolation"
    assert data["data"]["isolationRecommendation"] == "immediate_isolation"
    assert data["data"]["errorBudgetBurn"] >= 14.4
    assert _rows(home, "SELECT outcome FROM decisions WHERE decision_id = ?", [decision_id]) == [
        ("immediate_isolation",)
    ]
    # And back at the latest data: recovered, one more event.
    after = service.evaluate_daos()
    assert after.stored.events == 1 and after.stored.changes[0]["outcome"] == previous


def test_the_candidates_gate_blocks_and_the_baseline_passes_against_itself(home: Path) -> None:
    service = Ecoperf()
    gate = service.deployment_gate("v2.1.0").decisions[0]  # baseline: the version in service
    assert gate.outcome == "block_deployment" and gate.output["passed"] is False
    assert gate.evidence["source"]["baseline"] == "v2.0.9"
    assert "p99_latency_degradation" in {v["type"] for v in gate.output["violations"]}
    assert gate.evidence["ratiosToBaseline"]["p99_latency_degradation"] > 1.15
    same = service.deployment_gate("v2.0.9", "v2.0.9").decisions[0]
    assert same.outcome == "proceed" and same.output["violations"] == []


def test_shadow_decisions_are_logged_without_events_or_new_state(home: Path) -> None:
    shadow = policy().normalised()
    shadow["dao"]["shadow"] = True
    heads = _rows(home, "SELECT subject, decision_id FROM latest_decisions WHERE engine = 'dao'")
    before = _counts(home)
    result = Ecoperf().evaluate_daos(as_of="2026-11-29T11:00:00", policy=shadow)
    assert result.stored.events == 0
    assert {d.subject: d.outcome for d in result.decisions}["dao-07"] == "immediate_isolation"
    assert _counts(home)["outbox"] == before["outbox"]
    assert _rows(
        home, "SELECT subject, decision_id FROM latest_decisions WHERE engine = 'dao'"
    ) == (heads)
    shadows = _rows(home, "SELECT count(*) FROM decisions WHERE engine = 'dao' AND shadow")
    assert shadows == [(10,)]


def test_qnet_carries_its_hysteresis_state_between_evaluations(
    home: Path, first_run: dict[str, Any]
) -> None:
    state = json.loads(
        _rows(home, "SELECT state FROM latest_decisions WHERE subject = 'node-17'")[0][0]
    )
    assert state["weight"] == 0.5
    result = Ecoperf().node_weights(["node-17"])
    [decision] = result.decisions
    assert decision.inputs["previous"]["weight"] == 0.5
    assert decision.output["routingWeight"] == 0.5
    assert decision.evidence["trigger"] == "on_demand"
