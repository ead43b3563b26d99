"""`canary`, `analyze` and `slo` through the real CLI on the demo warehouse, and the demo's
analysis output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from ecoperf_core.cli.common import ExitCode
from tests.evaluation.demo_warehouse import demo_home

runner = CliRunner()

OPENSLO = """
apiVersion: openslo/v1
kind: SLO
metadata:
  name: dao-07-availability
spec:
  service: dao-07
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
  timeWindow:
    - duration: 7d
      isRolling: true
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = demo_home(tmp_path / "home")
    monkeypatch.setenv("ECOPERF_HOME", str(target))
    return target


def test_canary_fails_the_tail_regression_and_passes_an_a_a_run(home: Path) -> None:
    result = runner.invoke(app, ["canary", "--canary", "v2.1.0", "--baseline", "v2.0.9", "--json"])
    assert result.exit_code == 1, result.output
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "fail"
    latency = next(m for m in verdict["metrics"] if m["name"] == "latency_ms")
    assert latency["verdict"] == "fail" and latency["critical"]
    assert latency["tests"] and all("p_value" in t for t in latency["tests"])
    same = runner.invoke(app, ["canary", "--canary", "v2.0.9", "--baseline", "v2.0.9"])
    assert same.exit_code == ExitCode.OK, same.output
    assert "pass" in same.output
    log = runner.invoke(app, ["decisions", "--engine", "canary", "--json"])
    assert log.exit_code == 0, log.output
    assert {d["outcome"] for d in json.loads(log.stdout)} == {"fail", "pass"}


def test_canary_bad_input_and_unknown_ids(home: Path) -> None:
    bad = runner.invoke(
        app, ["canary", "--canary", "v2.1.0", "--baseline", "v2.0.9", "--metric", "nope"]
    )
    assert bad.exit_code == ExitCode.BAD_INPUT
    unknown = runner.invoke(app, ["canary", "--canary", "v9", "--baseline", "v2.0.9"])
    assert unknown.exit_code == ExitCode.UNAVAILABLE


def test_analyze_and_slo_commands(home: Path, prefect_runtime: None) -> None:
    analyzed = runner.invoke(app, ["analyze", "--json"])
    assert analyzed.exit_code == 0, analyzed.output
    assert json.loads(analyzed.stdout)["stored"] == 0  # the session warehouse is analysed
    (home / "slo.yaml").write_text(OPENSLO)
    slo = runner.invoke(
        app, ["slo", "--entity", "dao-07", "--openslo", str(home / "slo.yaml"), "--json"]
    )
    assert slo.exit_code == 0, slo.output
    body = json.loads(slo.stdout)
    assert body["slos"][0]["slo"] == "dao-07-availability"
    assert {a["rule"] for a in body["slos"][0]["alerts"]} == {"page-fast", "page-slow", "ticket"}
    assert "remaining" in body["slos"][0]["budget"]
