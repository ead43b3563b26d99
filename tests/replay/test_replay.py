"""Policy replay: the current policy reproduces the stored decisions exactly; a stricter
candidate reports the extra blocks it would cause; nothing is stored or published."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.evaluation.demo_policy import policy_to_toml
from ecoperf_core.policy import policy_from_mapping
from ecoperf_core.service import Ecoperf
from tests.evaluation.demo_warehouse import demo_home, policy

# A deployment 8% slower than its baseline at p95: inside the current 10% limit, outside 5%.
CLOSE_GATE = {
    "deploymentMetrics": {
        "deploymentId": "v3.0.0",
        "p95Latency": 108.0,
        "p99Latency": 150.0,
        "errorRate": 0.001,
        "cacheHitRate": 0.9,
    },
    "baseline": {"p95Latency": 100.0, "p99Latency": 140.0, "errorRate": 0.001, "cacheHitRate": 0.9},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo warehouse with a history: the engines at three data times (QNET's hysteresis and
    the DAO cap carry state between them), two deploy gates and a node-score what-if."""
    target = demo_home(tmp_path_factory.mktemp("replay-home"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ECOPERF_HOME", str(target))
        service = Ecoperf()
        for as_of in ("2026-11-29T05:00:00", "2026-11-29T12:00:00", None):
            service.evaluate_nodes(as_of)
            service.evaluate_daos(as_of)
            service.evaluate_readiness(None, as_of)
            service.evaluate_risk(("user", "node"), as_of)
        service.deployment_gate("v2.1.0", "v2.0.9")
        service.gate_payload(CLOSE_GATE)
        yield target


def _counts(home: Path) -> tuple[int, int, int]:
    con = duckdb.connect(str(home / "ecoperf.duckdb"), read_only=True)
    try:
        return tuple(  # type: ignore[return-value]
            con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("decisions", "outbox", "latest_decisions")
        )
    finally:
        con.close()


def test_replaying_the_current_policy_reproduces_every_stored_decision(home: Path) -> None:
    before = _counts(home)
    report = Ecoperf().replay(policy(), since="3650d")
    assert report["decisions"] == before[0]  # every decision stored, none left out
    assert report["evaluations"] == 4 * 3 + 2
    assert report["different"] == 0 and report["differences"] == []
    assert report["reproduced"] == report["decisions"]
    assert report["gates"] == {"extraBlocks": [], "fewerBlocks": []}
    assert report["incidents"]["actual"] == report["incidents"]["candidate"]
    # node-17 is down-weighted against its detected change point: not a false positive.
    assert report["incidents"]["actual"]["adverseWithIncident"] >= 1
    assert _counts(home) == before and report["published"] is False


def test_a_stricter_candidate_reports_the_extra_blocks_it_would_cause(home: Path) -> None:
    current = policy()
    stricter = policy_from_mapping(
        {
            **current.normalised(),
            "cicd": {**current.section("cicd"), "p95_ratio_max": 1.05},
            "golive": {**current.section("golive"), "read_p99_ms": 60.0},
        }
    )
    before = _counts(home)
    report = Ecoperf().replay(stricter, since="3650d")
    blocks = {(d["engine"], d["subject"]) for d in report["gates"]["extraBlocks"]}
    assert ("cicd", "v3.0.0") in blocks  # the close gate: proceed -> block_deployment
    assert ("golive", "qmail@production") in blocks  # healthy, but its p99 is over 60 ms
    assert ("cicd", "v2.1.0") not in blocks  # already blocked: not an extra block
    assert report["gates"]["fewerBlocks"] == []
    assert all(
        d["candidate"] in ("block_deployment", "blocked") for d in report["gates"]["extraBlocks"]
    )
    assert report["different"] == len(report["differences"]) >= len(blocks)
    assert report["engines"]["qnet"]["different"] == 0  # QNET's thresholds did not change
    assert _counts(home) == before


def test_replay_command_writes_table_json_and_markdown(home: Path, tmp_path: Path) -> None:
    current = policy()
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(
        policy_to_toml(
            policy_from_mapping(
                {**current.normalised(), "cicd": {**current.section("cicd"), "p95_ratio_max": 1.05}}
            ),
            "stricter p95 gate",
        )
    )
    runner = CliRunner()
    table = runner.invoke(app, ["replay", "--policy", str(candidate), "--since", "3650d"])
    assert table.exit_code == 0, table.output
    assert "v3.0.0" in table.output and "1 extra blocks" in table.output
    report_md = tmp_path / "replay.md"
    md = runner.invoke(
        app,
        ["replay", "--policy", str(candidate), "--since", "3650d", "--format", "markdown", "--out", str(report_md)],
    )  # fmt: skip
    assert md.exit_code == 0 and md.output.startswith("# Policy replay")
    assert report_md.read_text() == md.output
    payload: dict[str, Any] = json.loads(
        runner.invoke(app, ["replay", "--policy", str(candidate), "--format", "json", "--since", "3650d"]).output
    )  # fmt: skip
    assert [d["subject"] for d in payload["gates"]["extraBlocks"]] == ["v3.0.0"]
    # A labelled incident on the close gate's deployment: the candidate's block coincides with
    # it (a true positive), the actual pass missed it (a possible false negative).
    incidents = tmp_path / "incidents.json"
    incidents.write_text(json.dumps([{"entity": "v3.0.0", "start": "2020-01-01T00:00"}]))
    labelled: dict[str, Any] = json.loads(
        runner.invoke(
            app,
            ["replay", "--policy", str(candidate), "--format", "json", "--since", "3650d",
             "--incidents", str(incidents), "--incident-window-h", "1000000"],
        ).output
    )  # fmt: skip
    inc = labelled["incidents"]
    assert inc["count"] == payload["incidents"]["count"] + 1
    assert inc["candidate"]["adverseWithIncident"] == inc["actual"]["adverseWithIncident"] + 1
    assert inc["actual"]["possibleFalseNegatives"] == inc["candidate"]["possibleFalseNegatives"] + 1
    (close,) = [d for d in labelled["differences"] if d["subject"] == "v3.0.0"]
    assert close["incident"] == "labelled"
    incidents.write_text("[{")
    unreadable = runner.invoke(
        app, ["replay", "--policy", str(candidate), "--incidents", str(incidents)]
    )
    assert unreadable.exit_code == 2 and "--incidents" in unreadable.output
    bad = runner.invoke(app, ["replay", "--policy", str(candidate), "--since", "soon"])
    assert bad.exit_code == 2 and "--since" in bad.output
    missing = runner.invoke(app, ["replay", "--policy", str(tmp_path / "none.toml")])
    assert missing.exit_code == 2 and "not found" in missing.output
