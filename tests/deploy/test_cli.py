"""`deploy` and `drill` through the real CLI (typer, in process, real flow runs)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoperf_core.cli.app import app
from tests.deploy.scenario import receiver, scenario_home

runner = CliRunner()


@pytest.fixture
def home(eco_home: Path) -> Path:
    return scenario_home(eco_home)


def test_deploy_command_promotes_and_exits_0(prefect_runtime: None, home: Path) -> None:
    with receiver() as r:
        result = runner.invoke(
            app,
            [
                "deploy",
                "--deployment", "v1.1-good",
                "--baseline", "v1.0",
                "--step", "10", "--step", "100",
                "--interval", "15m",
                "--traffic-hook", f"{r.url}/traffic",
                "--json",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        run = json.loads(result.stdout)
        assert run["outcome"] == "promoted" and run["steps"] == [10.0, 100.0]
        assert [b["trafficPercent"] for b in r.paths("/traffic")] == [10, 100]
    first = run["intervals"][0]
    span = datetime.fromisoformat(first["to"]) - datetime.fromisoformat(first["from"])
    assert span == timedelta(minutes=15) and first["traffic"] == 10.0


def test_deploy_command_exit_codes(prefect_runtime: None, home: Path) -> None:
    bad = runner.invoke(app, ["deploy", "--deployment", "v1.1-bad", "--baseline", "v1.0"])
    assert bad.exit_code == 1 and "rolled_back" in bad.output
    steps = runner.invoke(
        app, ["deploy", "--deployment", "v1.1-good", "--baseline", "v1.0", "--step", "50"]
    )
    assert steps.exit_code == 2 and "steps" in steps.output and "100" in steps.output
    unknown = runner.invoke(app, ["deploy", "--deployment", "v9", "--baseline", "v1.0"])
    assert unknown.exit_code == 3 and "v9" in unknown.output


def test_drill_command_reports_the_verdict(prefect_runtime: None, home: Path) -> None:
    result = runner.invoke(app, ["drill", "--environment", "dr"], terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "PolicyMet" in result.output and "RTO" in result.output and "RPO" in result.output
    missing = runner.invoke(app, ["drill", "--backup", str(home / "nope.duckdb")])
    assert missing.exit_code == 2 and "--backup" in missing.output
